// blipbot's page, better with a script: answers appear in place (no reload), the waiting is
// announced in the live region, photos can be dropped or pasted, and the settings are remembered
// by this browser. Without this file the same forms post and the page comes back with the answer.
"use strict";

(function () {
  const form = document.getElementById("ask");
  if (!form) return; // the access-code page
  const status = document.getElementById("status");
  const photo = document.getElementById("photo");
  const question = document.getElementById("question");
  const notes = document.getElementById("voice-notes");
  const list = document.getElementById("conversation");
  const empty = document.getElementById("no-conversation");
  const detail = document.getElementById("detail");
  const voice = document.getElementById("voice");
  const forgetForm = document.getElementById("forget-form");
  const waiting = {
    send: "Looking at your photo.",
    read: "Reading the text in your photo.",
    scan: "Looking for QR codes and barcodes in your photo.",
    light: "Checking the light in your photo.",
    colour: "Finding the main colours in your photo.",
    alt: "Writing alt text for your photo.",
    full: "Describing your photo in full.",
    reset: "Starting over.",
    forget: "Deleting your data.",
  };

  // Settings remembered by this browser, as well as by its session on the server.
  try {
    if (localStorage.getItem("blipbot.detail")) detail.value = localStorage.getItem("blipbot.detail");
    if (localStorage.getItem("blipbot.voice")) voice.checked = localStorage.getItem("blipbot.voice") === "on";
  } catch (e) { /* storage may be off: the server remembers them too */ }
  detail.addEventListener("change", () => remember("detail", detail.value));
  voice.addEventListener("change", () => remember("voice", voice.checked ? "on" : "off"));
  function remember(key, value) {
    try { localStorage.setItem("blipbot." + key, value); } catch (e) { /* see above */ }
  }

  function say(text, kind) {
    status.dataset.kind = kind || "info";
    status.textContent = text;
  }

  function showConversation(exchanges) {
    list.replaceChildren();
    for (const exchange of exchanges) {
      const item = document.createElement("li");
      if (exchange.question) {
        const asked = document.createElement("p");
        asked.className = "question";
        asked.textContent = "You asked: " + exchange.question;
        item.append(asked);
      }
      const answer = document.createElement("p");
      answer.className = "reply";
      answer.textContent = exchange.answer;
      item.append(answer);
      list.append(item);
    }
    empty.hidden = exchanges.length > 0;
  }

  function showVoice(sources) {
    notes.replaceChildren();
    sources.forEach((src, index) => {
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.src = src;
      audio.setAttribute("aria-label", "The answer, spoken" + (sources.length > 1 ? ", part " + (index + 1) : ""));
      notes.append(audio);
    });
    const first = notes.querySelector("audio");
    if (first && voice.checked) first.play().catch(() => { /* autoplay refused: the control is there */ });
  }

  async function send(action, sourceForm, focusAfter) {
    const data = new FormData(sourceForm);
    data.set("action", action);
    if (sourceForm !== form) {
      data.set("detail", detail.value);
    }
    data.set("voice", voice.checked ? "on" : "off");
    say(waiting[action] || "Working on it.");
    let answered = false;
    try {
      const response = await fetch("/web/ask", { method: "POST", body: data, credentials: "same-origin" });
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffered.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffered.slice(0, end));
          buffered = buffered.slice(end + 1);
          if (line.event === "queued") say(line.text);
          if (line.event === "answer") {
            answered = true;
            say(line.text, line.kind);
            showConversation(line.conversation);
            showVoice(line.audio);
          }
        }
      }
    } catch (error) {
      say("Sorry, I could not reach the server. Please check your connection and try again.", "error");
      return;
    }
    if (!answered) say("Sorry, something went wrong. Please try again.", "error");
    if (action === "send" || action === "reset" || action === "forget") {
      question.value = "";
      photo.value = "";
    }
    if (focusAfter) focusAfter.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.submitter;
    const action = button && button.value ? button.value : "send";
    // After a question, the next one is typed straight away; after a button, focus stays on it.
    send(action, form, action === "send" ? question : button);
  });
  forgetForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send("forget", forgetForm, event.submitter);
  });

  // Drop or paste a photo anywhere on the page: it goes into the file input, as if chosen.
  function takeFile(files) {
    const image = Array.from(files || []).find((file) => file.type.startsWith("image/"));
    if (!image) return false;
    const transfer = new DataTransfer();
    transfer.items.add(image);
    photo.files = transfer.files;
    say("Photo ready: " + (image.name || "pasted image") + ". Press Send to describe it.");
    return true;
  }
  document.addEventListener("dragover", (event) => { event.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    document.body.classList.remove("dragging");
    takeFile(event.dataTransfer && event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    if (takeFile(event.clipboardData && event.clipboardData.files)) event.preventDefault();
  });
})();
