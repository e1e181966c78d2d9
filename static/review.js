// Review page: play a segment, save a corrected text or speaker, split at the cursor, join
// with the next segment, redact the selected words, publish or withdraw. The server decides
// everything (who may, versions, bounds); this page only sends what the reviewer did and
// redraws what the server answers. Text is only ever set with textContent / value.
(function () {
  "use strict";
  var list = document.getElementById("review-segments");
  if (!list) { return; }
  var api = list.getAttribute("data-api");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var status = document.getElementById("review-status");
  var player = document.getElementById("player");
  var offset = player ? parseFloat(player.getAttribute("data-offset") || "0") || 0 : 0;
  var template = document.getElementById("segment-template");

  function say(message, isError) {
    status.textContent = message || "";
    status.className = isError ? "error" : "notice";
  }

  function msg(name) { return list.getAttribute("data-msg-" + name) || ""; }

  function clock(seconds) {
    var total = Math.max(0, Math.floor(seconds));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  // Character offsets as the server counts them (code points, not UTF-16 units).
  function codePoints(text, units) { return Array.from(text.slice(0, units)).length; }

  function fill(li, seg) {
    li.id = "s" + seg.id;
    li.setAttribute("data-id", String(seg.id));
    li.setAttribute("data-version", String(seg.version));
    li.setAttribute("data-start", String(seg.start));
    li.setAttribute("data-end", String(seg.end));
    li.querySelector(".play").textContent = clock(seg.start);
    var speaker = li.querySelector(".speaker");
    var text = li.querySelector(".text");
    speaker.value = seg.speaker;
    speaker.setAttribute("data-saved", seg.speaker);
    text.value = seg.text;
    text.setAttribute("data-saved", seg.text);
    return li;
  }

  function redraw(answer) {
    (answer.removed || []).forEach(function (id) {
      var gone = document.getElementById("s" + id);
      if (gone) { gone.remove(); }
    });
    var previous = null;
    (answer.segments || []).forEach(function (seg) {
      var li = document.getElementById("s" + seg.id);
      if (!li) {
        li = template.content.firstElementChild.cloneNode(true);
        var after = previous || list.lastElementChild;
        if (after && after.nextSibling) { list.insertBefore(li, after.nextSibling); }
        else { list.appendChild(li); }
      }
      fill(li, seg);
      previous = li;
    });
  }

  function post(path, body) {
    return fetch(api + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (response.ok) { return answer; }
        if (answer && answer.segments) { redraw(answer); }  // a conflict: theirs is shown
        var error = new Error((answer && answer.error && answer.error.message) || msg("failed"));
        error.code = answer && answer.error && answer.error.code;
        throw error;
      });
    });
  }

  function run(button, path, body, done) {
    button.disabled = true;
    say("");
    return post(path, body).then(function (answer) {
      redraw(answer);
      say(msg("saved"));
      if (done) { done(answer); }
    }).catch(function (error) {
      say(error.message, true);
    }).then(function () { button.disabled = false; });
  }

  function seek(t) {
    if (!player) { return; }
    player.currentTime = Math.max(0, t - offset);
    var started = player.play();
    if (started && started.catch) { started.catch(function () { /* autoplay refused */ }); }
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button") : null;
    var li = button ? button.closest("li.segment") : null;
    if (!li) { return; }
    var id = li.getAttribute("data-id");
    var version = parseInt(li.getAttribute("data-version"), 10);
    var text = li.querySelector(".text");
    var speaker = li.querySelector(".speaker");
    var unsaved = text.value !== text.getAttribute("data-saved");
    if (button.classList.contains("play")) {
      seek(parseFloat(li.getAttribute("data-start")));
    } else if (button.classList.contains("save")) {
      run(button, "/segments/" + id, { version: version, text: text.value, speaker: speaker.value });
    } else if (button.classList.contains("split")) {
      if (unsaved) { say(msg("unsaved"), true); return; }
      run(button, "/segments/" + id + "/split",
          { version: version, at: codePoints(text.value, text.selectionStart) });
    } else if (button.classList.contains("join")) {
      var next = li.nextElementSibling;
      if (!next) { return; }
      if (unsaved || next.querySelector(".text").value !==
          next.querySelector(".text").getAttribute("data-saved")) {
        say(msg("unsaved"), true);
        return;
      }
      run(button, "/segments/" + id + "/join", {
        version: version, next_id: parseInt(next.getAttribute("data-id"), 10),
        next_version: parseInt(next.getAttribute("data-version"), 10),
      });
    } else if (button.classList.contains("redact")) {
      if (unsaved) { say(msg("unsaved"), true); return; }
      if (text.selectionStart === text.selectionEnd) { say(msg("select"), true); return; }
      run(button, "/segments/" + id + "/redact", {
        version: version, start: codePoints(text.value, text.selectionStart),
        end: codePoints(text.value, text.selectionEnd),
      }, function () {
        // The replay was rebuilt with the stretch silenced: load the new file.
        if (player) { player.load(); }
      });
    }
  });

  // A parent asked to be left out: every segment they spoke, redacted in one step.
  var leaveOuts = document.getElementById("leave-outs");
  if (leaveOuts) {
    leaveOuts.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button.redact-participant") : null;
      if (!button) { return; }
      run(button, "/participants/" + button.getAttribute("data-participant") + "/redact", {},
          function () {
            button.closest("li").setAttribute("data-done", "1");
            if (player) { player.load(); }
          });
    });
  }

  var chapters = document.getElementById("chapters");
  if (chapters) {
    chapters.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.chapter") : null;
      if (!link) { return; }
      event.preventDefault();
      seek(parseFloat(link.getAttribute("data-start")));
    });
  }

  ["publish", "withdraw"].forEach(function (name) {
    var button = document.getElementById(name);
    if (!button) { return; }
    button.addEventListener("click", function () {
      var published = button.getAttribute("data-publish") === "1";
      button.disabled = true;
      post("/publish", { published: published }).catch(function (error) {
        // Parts fell short: the server asks to confirm (and refuses without it).
        if (error.code !== "confirm_publish" || !window.confirm(error.message)) { throw error; }
        return post("/publish", { published: published, confirm: true });
      }).then(function (answer) {
        var state = document.getElementById("publish-state");
        state.setAttribute("data-published", answer.published ? "1" : "0");
        state.textContent = msg(answer.published ? "published" : "withdrawn");
        document.getElementById("publish").hidden = answer.published;
        document.getElementById("withdraw").hidden = !answer.published;
        say(state.textContent);
      }).catch(function (error) { say(error.message, true); })
        .then(function () { button.disabled = false; });
    });
  });
}());
