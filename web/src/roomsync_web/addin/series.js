// An Outlook series (Office.js Recurrence, Mailbox 1.7) as roomsync's recurrence: the pattern
// ROOMS and Exchange share. A pattern roomsync cannot express gives null and a reason.
"use strict";

(() => {
  const WEEKDAYS = { mon: "MO", tue: "TU", wed: "WE", thu: "TH", fri: "FR", sat: "SA", sun: "SU" };
  const WEEKS = { first: 1, second: 2, third: 3, fourth: 4, last: -1 };
  const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

  const lower = (value) => String(value || "").toLowerCase();
  const day = (value) => WEEKDAYS[lower(value).slice(0, 3)];

  // By weekday of a week ("the second Tuesday"): Office.js names the day; "day", "weekday" and
  // "weekendDay" (any day of a kind) have no counterpart in ROOMS.
  function byWeek(props, pattern) {
    const weekday = day(props.dayOfWeek);
    const week = WEEKS[lower(props.weekNumber)];
    if (!weekday || week === undefined) return null;
    return { ...pattern, weekdays: [weekday], week_of_month: week };
  }

  function fromOffice(recurrence) {
    if (!recurrence) return { recurrence: null, reason: null };
    const props = recurrence.recurrenceProperties || {};
    const interval = Number(props.interval) || 1;
    const type = lower(recurrence.recurrenceType);
    let pattern = null;
    if (type === "daily") {
      pattern = { frequency: "daily", interval };
    } else if (type === "weekday") {
      pattern = { frequency: "weekly", interval: 1, weekdays: ["MO", "TU", "WE", "TH", "FR"] };
    } else if (type === "weekly") {
      const weekdays = (props.days || []).map(day);
      if (weekdays.length && weekdays.every(Boolean)) pattern = { frequency: "weekly", interval, weekdays };
    } else if (type === "monthly" || type === "yearly") {
      const base = { frequency: type, interval };
      if (type === "yearly") {
        const month = MONTHS.indexOf(lower(props.month).slice(0, 3)) + 1;
        base.month = month || null;
      }
      if (type === "yearly" && !base.month) pattern = null;
      else if (props.dayOfMonth) pattern = { ...base, month_day: Number(props.dayOfMonth) };
      else pattern = byWeek(props, base);
    }
    if (!pattern) return { recurrence: null, reason: type || "?" };
    const ends = recurrence.seriesTime && recurrence.seriesTime.getEndDate();
    if (ends) pattern.until = ends;
    return { recurrence: pattern, reason: null };
  }

  window.RoomsyncSeries = { fromOffice };
})();
