// Transcript page: click a segment (or arrive with #t=SECONDS) to play from that moment
// (the café's video replay when there is one, else its audio replay);
// the segment being played is highlighted; captions come from the transcript's VTT track.
// Text is only ever set with textContent.
(function () {
  "use strict";
  var list = document.getElementById("segments");
  if (!list) { return; }
  var player = document.getElementById("player");
  var caption = document.getElementById("player-caption");
  var offset = player ? parseFloat(player.getAttribute("data-offset") || "0") || 0 : 0;
  var items = Array.prototype.slice.call(list.querySelectorAll("li[data-start]"));
  var starts = items.map(function (li) { return parseFloat(li.getAttribute("data-start")); });
  var ends = items.map(function (li) { return parseFloat(li.getAttribute("data-end")); });
  var current = -1;

  // The last segment starting at or before t (binary search; segments are in time order).
  function indexAt(t) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function mark(index, scroll) {
    if (index === current) { return; }
    if (current >= 0) {
      items[current].classList.remove("current");
      items[current].removeAttribute("aria-current");
    }
    current = index;
    if (index < 0) { return; }
    items[index].classList.add("current");
    items[index].setAttribute("aria-current", "true");
    if (scroll) { items[index].scrollIntoView({ block: "center", behavior: "smooth" }); }
  }

  function seek(t, play) {
    mark(indexAt(t + 0.001), true);
    if (!player) { return; }
    player.currentTime = Math.max(0, t - offset);
    if (play) {
      var started = player.play();
      if (started && started.catch) { started.catch(function () { /* autoplay refused */ }); }
    }
  }

  function fromHash() {
    var m = /^#t=(\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (m) { seek(parseFloat(m[1]), true); }
  }

  list.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.t") : null;
    var li = event.target.closest ? event.target.closest("li[data-start]") : null;
    if (!li || (event.target.closest("a") && !link)) { return; }
    event.preventDefault();
    var t = parseFloat(li.getAttribute("data-start"));
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "#t=" + t);
    }
    seek(t, true);
  });
  window.addEventListener("hashchange", fromHash);
  // A chapter jumps to its question even when the address already names that moment.
  var chapters = document.getElementById("chapters");
  if (chapters) {
    chapters.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.chapter") : null;
      if (!link) { return; }
      event.preventDefault();
      var t = parseFloat(link.getAttribute("data-start"));
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#t=" + t);
      }
      seek(t, true);
    });
  }

  if (player) {
    player.addEventListener("timeupdate", function () {
      var t = player.currentTime + offset;
      var i = indexAt(t);
      mark(i >= 0 && t <= ends[i] + 1 ? i : -1, false);
    });
    // The tracks are in café seconds; the player's time 0 is café second `offset`.
    Array.prototype.forEach.call(player.querySelectorAll("track"), function (el) {
      if (!offset || !el.track) { return; }
      var shift = function () {
        var cues = el.track.cues;
        for (var k = 0; cues && k < cues.length; k++) {
          cues[k].startTime = Math.max(0, cues[k].startTime - offset);
          cues[k].endTime = Math.max(0, cues[k].endTime - offset);
        }
      };
      if (el.readyState === 2) { shift(); } else { el.addEventListener("load", shift); }
    });
    var track = player.querySelector("track");
    // An <audio> element never draws cues: keep the track hidden and show the active cue.
    if (track && track.track && caption) {
      track.track.mode = "hidden";
      track.track.addEventListener("cuechange", function () {
        var cues = track.track.activeCues;
        var text = [];
        for (var k = 0; cues && k < cues.length; k++) {
          text.push(cues[k].getCueAsHTML ? cues[k].getCueAsHTML().textContent : cues[k].text);
        }
        caption.textContent = text.join(" ");
      });
    }
  }
  fromHash();
}());
