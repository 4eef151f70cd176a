// A test double of Office.js for the "Book a room" pane: an Outlook appointment being written.
// Only the parts the pane uses, with Office.js names and callback shapes. The meeting comes from
// window.__outlookMeeting (set before the page loads); window.__outlook reads the item back and
// sends it: the test's host (window.outlookSend) writes it into the organizer's mailbox as
// Outlook would, custom properties included.
"use strict";

(() => {
  const given = window.__outlookMeeting || {};
  const Succeeded = "succeeded";
  const Failed = "failed";
  const copy = (value) => JSON.parse(JSON.stringify(value));
  const recipients = (list) => (list || []).map((r) => ({ emailAddress: r.emailAddress, displayName: r.displayName || r.emailAddress }));

  const item = {
    start: new Date(given.start),
    end: new Date(given.end),
    subject: given.subject || "",
    location: given.location || "",
    requiredAttendees: recipients(given.requiredAttendees),
    resources: recipients(given.resources),
    recurrence: given.recurrence || null,
    organizer: given.organizer || { emailAddress: given.emailAddress || "", displayName: given.displayName || "" },
    saved: { ...(given.customProperties || {}) },
  };

  function answer(callback, value, error) {
    const result = error
      ? { status: Failed, value: undefined, error: { code: 9002, name: "InternalError", message: error } }
      : { status: Succeeded, value, error: undefined };
    if (typeof callback === "function") setTimeout(() => callback(result), 0);
  }
  // Office.js takes (value, [options], [callback]) and (options?, callback).
  const callbackOf = (args) => args.find((a) => typeof a === "function");

  function property(name, check) {
    return {
      getAsync(...args) {
        answer(callbackOf(args), item[name] instanceof Date ? new Date(item[name]) : copy(item[name]));
      },
      setAsync(value, ...args) {
        const wrong = check ? check(value) : null;
        if (!wrong) item[name] = value instanceof Date ? new Date(value) : value;
        answer(callbackOf(args), undefined, wrong);
      },
    };
  }

  function recipientsOf(name) {
    const wrongOf = (list) =>
      Array.isArray(list) && list.every((r) => r && typeof r.emailAddress === "string")
        ? null
        : "recipients must be {emailAddress, displayName}";
    return {
      getAsync(...args) {
        answer(callbackOf(args), copy(item[name]));
      },
      setAsync(list, ...args) {
        const wrong = wrongOf(list);
        if (!wrong) item[name] = recipients(list);
        answer(callbackOf(args), undefined, wrong);
      },
      addAsync(list, ...args) {
        const wrong = wrongOf(list);
        if (!wrong) item[name] = [...item[name], ...recipients(list)];
        answer(callbackOf(args), undefined, wrong);
      },
    };
  }

  class CustomProperties {
    constructor() {
      this.values = { ...item.saved };
    }
    get(name) {
      return this.values[name];
    }
    set(name, value) {
      this.values[name] = value;
    }
    remove(name) {
      delete this.values[name];
    }
    getAll() {
      return { ...this.values };
    }
    saveAsync(...args) {
      item.saved = { ...this.values };
      window.__outlook.saves += 1;
      answer(callbackOf(args), undefined);
    }
  }

  const mailboxItem = {
    itemType: "appointment",
    start: property("start"),
    end: property("end"),
    subject: property("subject"),
    location: property("location", (v) => (typeof v === "string" ? null : "location must be a string")),
    requiredAttendees: recipientsOf("requiredAttendees"),
    resources: recipientsOf("resources"),
    // Office.Recurrence: a dictionary whose seriesTime has getters (dates "YYYY-MM-DD", times
    // "THH:mm:ss:mmm" in the recurrence's zone, the duration in minutes).
    recurrence: {
      getAsync(...args) {
        if (item.recurrence === null) return answer(callbackOf(args), null);
        const { seriesTime, ...pattern } = copy(item.recurrence);
        answer(callbackOf(args), {
          ...pattern,
          seriesTime: {
            getStartDate: () => seriesTime.startDate,
            getEndDate: () => seriesTime.endDate || null,
            getStartTime: () => seriesTime.startTime,
            getEndTime: () => seriesTime.endTime,
            getDuration: () => seriesTime.duration,
          },
        });
      },
    },
    organizer: {
      getAsync(...args) {
        answer(callbackOf(args), copy(item.organizer));
      },
    },
    loadCustomPropertiesAsync(...args) {
      answer(callbackOf(args), new CustomProperties());
    },
  };

  window.__outlook = {
    get resources() {
      return copy(item.resources);
    },
    get location() {
      return item.location;
    },
    get customProperties() {
      return { ...item.saved };
    },
    tokenRequests: [],
    saves: 0,
    // The user clicks Send: Outlook writes the meeting, with the saved custom properties.
    send() {
      return window.outlookSend({
        subject: item.subject,
        start: item.start.toISOString(),
        end: item.end.toISOString(),
        location: item.location,
        requiredAttendees: copy(item.requiredAttendees),
        resources: copy(item.resources),
        customProperties: { ...item.saved },
      });
    },
  };

  // Office dialogs (DialogApi): the dialog is a popup window; the page in it calls
  // messageParent, which reaches the handlers of the page that opened it.
  const DialogMessageReceived = "dialogMessageReceived";
  const DialogEventReceived = "dialogEventReceived";
  function displayDialogAsync(url, ...args) {
    const callback = callbackOf(args);
    const popup = window.open(url, "officeDialog", "popup,width=480,height=640");
    if (!popup) return answer(callback, undefined, "12009: the dialog was blocked");
    const handlers = {};
    let closed = false;
    const watch = setInterval(() => {
      if (popup.closed && !closed) {
        closed = true;
        clearInterval(watch);
        if (handlers[DialogEventReceived]) handlers[DialogEventReceived]({ error: 12006 });
      }
    }, 100);
    window.__officeDialog = {
      receive(message, origin) {
        if (handlers[DialogMessageReceived]) handlers[DialogMessageReceived]({ message, origin });
      },
    };
    answer(callback, {
      addEventHandler(type, handler) {
        handlers[type] = handler;
      },
      close() {
        closed = true;
        clearInterval(watch);
        popup.close();
      },
    });
  }

  window.Office = {
    AsyncResultStatus: { Succeeded, Failed },
    EventType: { DialogMessageReceived, DialogEventReceived },
    context: {
      ui: {
        displayDialogAsync,
        messageParent(message) {
          window.opener.__officeDialog.receive(String(message), location.origin);
        },
      },
      displayLanguage: given.displayLanguage || "en-US",
      mailbox: {
        item: mailboxItem,
        userProfile: {
          emailAddress: given.emailAddress || "",
          displayName: given.displayName || "",
          timeZone: given.timeZone || "UTC",
        },
      },
    },
    auth: {
      getAccessToken(options) {
        window.__outlook.tokenRequests.push(options || {});
        if (given.ssoError) {
          // e.g. 13012: the add-in runs where single sign-on is not supported.
          return Promise.reject({ code: given.ssoError, name: "SSO unavailable", message: "No single sign-on here." });
        }
        if (!given.token) {
          return Promise.reject({ code: 13001, name: "User is not signed in", message: "No one is signed in." });
        }
        // Office renews an expired token: the test's host gives a fresh one when it can.
        return window.outlookToken ? window.outlookToken(given.emailAddress) : Promise.resolve(given.token);
      },
    },
    onReady(callback) {
      const info = { host: "Outlook", platform: "PC" };
      return new Promise((resolve) => {
        setTimeout(() => {
          if (typeof callback === "function") callback(info);
          resolve(info);
        }, 0);
      });
    },
  };
})();
