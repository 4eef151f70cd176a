// The "Book a room" task pane: free rooms for the meeting being written, booked through roomsync.
"use strict";

(() => {
  const API = new URL("../api/v1", document.baseURI).pathname;
  const STAMP = "roomsyncStamp";
  const RESERVATION = "roomsyncReservation";
  const all = window.RoomsyncStrings;
  let text = all.en;
  let lang = "en";

  const state = {
    item: null,
    props: null,
    token: null, // the sign-in dialog's token; with single sign-on, none is kept
    sso: false,
    installation: null,
    meeting: null,
    rooms: [],
    reservation: null,
    checked: 0,
  };

  const $ = (id) => document.getElementById(id);
  const fill = (template, values = {}) =>
    template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
  // "1 attendee", "2 attendees": the language's plural rule picks the string.
  const counted = (key, count) =>
    fill(new Intl.PluralRules(lang).select(count) === "one" ? text[`${key}One`] : text[key], { count });

  function say(message, kind = "") {
    const status = $("status");
    status.textContent = message;
    status.className = kind;
  }

  // An Office.js asynchronous call as a promise: the callback's asyncResult, value or error.
  function office(target, method, ...args) {
    return new Promise((resolve, reject) => {
      target[method](...args, (result) => {
        if (result.status === Office.AsyncResultStatus.Succeeded) {
          resolve(result.value);
        } else {
          reject(new Error((result.error && result.error.message) || method));
        }
      });
    });
  }

  class ApiError extends Error {
    constructor(status, detail, body) {
      super(detail);
      this.status = status;
      this.code = (body && body.code) || null;
      this.facts = (body && body.facts) || {};
    }
  }

  function detailOf(body, fallback) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return fallback;
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${await accessToken()}`, Accept: "application/json" };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const answer = await fetch(API + path, init);
    let data = null;
    try {
      data = await answer.json();
    } catch {
      data = null;
    }
    if (!answer.ok) {
      throw new ApiError(answer.status, detailOf(data, `${answer.status} ${answer.statusText}`), data);
    }
    return data;
  }

  function translate() {
    document.documentElement.lang = lang;
    for (const element of document.querySelectorAll("[data-text]")) {
      element.textContent = text[element.dataset.text];
    }
    $("search").placeholder = text.search;
  }

  function showMeeting() {
    const { start, end, attendees, recurrence } = state.meeting;
    const day = { dateStyle: "full" };
    const time = { timeStyle: "short" };
    const sameDay = start.toDateString() === end.toDateString();
    $("meeting-time").textContent = sameDay
      ? `${start.toLocaleDateString(lang, day)}, ${start.toLocaleTimeString(lang, time)} – ${end.toLocaleTimeString(lang, time)}`
      : `${start.toLocaleString(lang, { ...day, ...time })} – ${end.toLocaleString(lang, { ...day, ...time })}`;
    const facts = [counted("attendees", attendees)];
    if (recurrence) {
      facts.push(state.checked ? counted("seriesChecked", state.checked) : text.series);
    }
    if (state.meeting.organizer !== state.meeting.user) {
      facts.push(fill(text.bookingFor, { organizer: state.meeting.organizerName || state.meeting.organizer }));
    }
    $("meeting-facts").textContent = facts.join(" · ");
  }

  // Rooms that seat the attendees and the organizer first, the smallest of them first.
  function byFit(rooms) {
    const needed = state.meeting.attendees + 1;
    const fits = (room) => room.capacity !== null && room.capacity >= needed;
    return [...rooms].sort((a, b) => {
      if (fits(a) !== fits(b)) return fits(a) ? -1 : 1;
      const ca = a.capacity ?? -1;
      const cb = b.capacity ?? -1;
      if (ca !== cb) return fits(a) ? ca - cb : cb - ca;
      return a.name.localeCompare(b.name);
    });
  }

  function showRooms() {
    const query = $("search").value.trim().toLowerCase();
    const shown = byFit(state.rooms).filter(
      (room) =>
        !query ||
        room.name.toLowerCase().includes(query) ||
        room.equipment.some((e) => e.toLowerCase().includes(query)),
    );
    const needed = state.meeting.attendees + 1;
    const list = $("rooms");
    list.replaceChildren();
    for (const room of shown) {
      const item = document.createElement("li");
      item.className = "room";
      item.dataset.mailbox = room.mailbox;
      const about = document.createElement("div");
      const name = document.createElement("div");
      name.className = "name";
      name.textContent = room.name;
      const facts = document.createElement("div");
      facts.className = "facts";
      const parts = [
        room.capacity === null ? text.seatsUnknown : counted("seats", room.capacity),
        room.equipment.length ? room.equipment.join(", ") : text.noEquipment,
      ];
      if (room.capacity !== null && room.capacity < needed) {
        parts.push(text.tooSmall);
        item.classList.add("small");
      }
      facts.textContent = parts.join(" · ");
      about.append(name, facts);
      const book = document.createElement("button");
      book.type = "button";
      book.textContent = text.book;
      book.setAttribute("aria-label", `${text.book} ${room.name}`);
      book.addEventListener("click", () => choose(room));
      item.append(about, book);
      list.append(item);
    }
    $("no-rooms").hidden = shown.length > 0;
  }

  // Rooms free for the meeting, for every occurrence of a series.
  async function findRooms() {
    const { start, end, timezone, recurrence } = state.meeting;
    const found = await api("POST", "/rooms/free", {
      start: start.toISOString(),
      end: end.toISOString(),
      timezone,
      recurrence,
    });
    state.rooms = found.rooms;
    state.checked = recurrence ? found.occurrences : 0;
    showMeeting();
    $("finder").hidden = false;
    showRooms();
  }

  function busy(yes) {
    for (const button of document.querySelectorAll("button")) button.disabled = yes;
  }

  async function stamp(reservationId) {
    state.props.set(RESERVATION, reservationId);
    state.props.set(STAMP, `${state.installation}:${reservationId}`);
    await office(state.props, "saveAsync");
  }

  // The meeting's resources without roomsync's rooms, then the one room booked (if any).
  async function putRoom(room, previous) {
    const resources = state.item.resources;
    if (previous.length) {
      const gone = new Set(previous.map((m) => m.toLowerCase()));
      const kept = (await office(resources, "getAsync")).filter((r) => !gone.has(r.emailAddress.toLowerCase()));
      await office(resources, "setAsync", kept);
    }
    if (room) {
      await office(resources, "addAsync", [{ emailAddress: room.mailbox, displayName: room.name }]);
    }
    await office(state.item.location, "setAsync", room ? room.name : "");
  }

  async function choose(room) {
    busy(true);
    say(fill(text.booking, { room: room.name }));
    try {
      if (state.reservation) {
        const before = state.reservation.rooms;
        const changed = await api("PATCH", `/reservations/${encodeURIComponent(state.reservation.id)}`, {
          rooms: [room.mailbox],
        });
        await putRoom(room, before);
        await stamp(changed.id);
        state.reservation = changed;
        showCurrent(changed, null);
        say(fill(text.changed, { room: room.name }), "ok");
      } else {
        const made = await api("POST", "/reservations", {
          title: state.meeting.subject || text.meeting,
          start: state.meeting.start.toISOString(),
          end: state.meeting.end.toISOString(),
          timezone: state.meeting.timezone,
          organizer: state.meeting.organizer,
          booked_by: state.meeting.organizer === state.meeting.user ? null : state.meeting.user,
          rooms: [room.mailbox],
          recurrence: state.meeting.recurrence,
          from_outlook: true,
        });
        await putRoom(room, []);
        await stamp(made.id);
        state.reservation = made;
        showCurrent(made, null);
        say(fill(text.booked, { room: room.name }), "ok");
      }
      $("finder").hidden = true;
    } catch (error) {
      refused(error, room);
    } finally {
      busy(false);
    }
  }

  function refused(error, room) {
    if (error instanceof ApiError && error.code === "outside-booking-window" && room) {
      say(fill(text.outsideWindow, { room: room.name, days: error.facts.days }), "error");
      $("status").title = error.message;
      findRooms().catch(() => {});
    } else if (error instanceof ApiError && error.status === 409) {
      say(text.taken, "error");
      $("status").title = error.message; // ROOMS's own words (which booking), for the curious
      findRooms().catch(() => {});
    } else if (error instanceof ApiError && error.status === 403) {
      say(fill(text.notAllowed, { organizer: state.meeting.organizer }), "error");
    } else {
      say(fill(text.failed, { detail: error.message }), "error");
    }
  }

  function roomNames(mailboxes) {
    return mailboxes
      .map((m) => (state.rooms.find((r) => r.mailbox === m) || { name: m }).name)
      .join(", ");
  }

  function showCurrent(reservation, links) {
    $("current").hidden = false;
    $("current-room").textContent = roomNames(reservation.rooms);
    const states = links && links.length ? links.map((l) => l.state).join(", ") : reservation.status;
    $("current-state").textContent = fill(text.state, { state: states });
  }

  // The meeting without roomsync's booking: its room, location and the add-in's mark gone.
  async function forget(rooms) {
    await putRoom(null, rooms || []);
    state.props.remove(RESERVATION);
    state.props.remove(STAMP);
    await office(state.props, "saveAsync");
    state.reservation = null;
  }

  async function remove() {
    const reservation = state.reservation;
    busy(true);
    try {
      await api("DELETE", `/reservations/${encodeURIComponent(reservation.id)}`);
      await forget(reservation.rooms);
      $("current").hidden = true;
      say(text.removed, "ok");
      await findRooms();
    } catch (error) {
      refused(error);
    } finally {
      busy(false);
    }
  }

  async function readMeeting(item) {
    const profile = Office.context.mailbox.userProfile;
    const [start, end, subject, attendees, recurrence, props, organizer] = await Promise.all([
      office(item.start, "getAsync"),
      office(item.end, "getAsync"),
      office(item.subject, "getAsync"),
      office(item.requiredAttendees, "getAsync"),
      office(item.recurrence, "getAsync"),
      office(item, "loadCustomPropertiesAsync"),
      // A delegate writes the meeting in the organizer's calendar (Mailbox 1.7 and later).
      item.organizer && item.organizer.getAsync ? office(item.organizer, "getAsync") : null,
    ]);
    state.props = props;
    const series = window.RoomsyncSeries.fromOffice(recurrence);
    const zone = recurrence && recurrence.recurrenceTimeZone && recurrence.recurrenceTimeZone.name;
    const user = String(profile.emailAddress || "").toLowerCase();
    return {
      start: new Date(start),
      end: new Date(end),
      subject,
      attendees: (attendees || []).length,
      recurrence: series.recurrence,
      unsupported: series.reason,
      timezone: zone || profile.timeZone || "UTC",
      user,
      organizer: organizer && organizer.emailAddress ? organizer.emailAddress.toLowerCase() : user,
      organizerName: organizer && organizer.displayName,
    };
  }

  // Office single sign-on where Outlook has it; else roomsync's sign-in dialog (signin.html).
  // An SSO token is asked for before every request, never kept: Office caches it and renews it
  // when it expires, as Microsoft's guidance for add-ins asks.
  function accessToken() {
    return state.sso ? Office.auth.getAccessToken({ allowSignInPrompt: true }) : Promise.resolve(state.token);
  }

  async function signIn() {
    try {
      await Office.auth.getAccessToken({ allowSignInPrompt: true });
      state.sso = true;
      return null;
    } catch (sso) {
      if (!(Office.context.ui && Office.context.ui.displayDialogAsync)) throw sso;
      say(text.signingIn);
      return dialogSignIn();
    }
  }

  function dialogSignIn() {
    const url = new URL("signin.html", document.baseURI);
    const hint = Office.context.mailbox.userProfile.emailAddress;
    if (hint) url.searchParams.set("hint", hint);
    return new Promise((resolve, reject) => {
      Office.context.ui.displayDialogAsync(url.toString(), { height: 60, width: 30 }, (result) => {
        if (result.status !== Office.AsyncResultStatus.Succeeded) {
          reject(new Error(result.error.message));
          return;
        }
        const dialog = result.value;
        dialog.addEventHandler(Office.EventType.DialogMessageReceived, (arg) => {
          dialog.close();
          // Only this add-in's own page may hand over a token (DialogApi 1.2 names the sender).
          if (arg.origin && arg.origin !== location.origin) {
            reject(new Error(arg.origin));
            return;
          }
          let message = {};
          try {
            message = JSON.parse(arg.message);
          } catch {
            message = {};
          }
          if (message.token) resolve(message.token);
          else reject(new Error(message.error || text.signInClosed));
        });
        dialog.addEventHandler(Office.EventType.DialogEventReceived, () => {
          reject(new Error(text.signInClosed));
        });
      });
    });
  }

  async function start() {
    lang = all.languageOf(Office.context.displayLanguage);
    text = all[lang];
    translate();
    say(text.loading);
    state.item = Office.context.mailbox.item;
    try {
      state.meeting = await readMeeting(state.item);
    } catch (error) {
      say(fill(text.failed, { detail: error.message }), "error");
      return;
    }
    if (Number.isNaN(state.meeting.start.getTime()) || Number.isNaN(state.meeting.end.getTime())) {
      say(text.noTime, "error");
      return;
    }
    if (state.meeting.unsupported) {
      showMeeting();
      say(text.seriesUnsupported, "error");
      return;
    }
    showMeeting();
    try {
      state.token = await signIn();
    } catch (error) {
      say(fill(text.signIn, { detail: (error && (error.message || error.code)) || String(error) }), "error");
      return;
    }
    $("search").addEventListener("input", showRooms);
    $("remove").addEventListener("click", remove);
    $("change").addEventListener("click", () => {
      findRooms().catch(refused);
    });
    try {
      state.installation = (await api("GET", "/addin/identity")).installation;
      const known = state.props.get(RESERVATION);
      if (known) {
        try {
          const shown = await api("GET", `/reservations/${encodeURIComponent(known)}`);
          if (shown.reservation.status === "active") {
            state.reservation = shown.reservation;
            say("");
            showCurrent(shown.reservation, shown.links);
            return;
          }
          // Released (not sent in time) or cancelled in ROOMS: the meeting can book again.
          say(text.released, "error");
          await forget(shown.reservation.rooms);
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
          say(text.gone, "error");
        }
      } else {
        say("");
      }
      await findRooms();
    } catch (error) {
      refused(error);
    }
  }

  Office.onReady(() => {
    start();
  });
})();
