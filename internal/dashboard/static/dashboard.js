// jetrun dashboard: keeps the live output tail bounded and scrolled to its
// end while the reader is at the end. Everything else is htmx.
(function () {
  "use strict";
  var maxChunks = 4000;
  function watch() {
    var log = document.getElementById("log");
    if (!log) return;
    var atEnd = true;
    log.addEventListener("scroll", function () {
      atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    });
    log.scrollTop = log.scrollHeight;
    new MutationObserver(function () {
      var note = log.querySelector(".trimmed");
      while (log.childElementCount > maxChunks) {
        var first = log.firstElementChild;
        if (first === note) first = note.nextElementSibling;
        log.removeChild(first);
        if (!note) {
          note = document.createElement("span");
          note.className = "note trimmed";
          note.textContent = "[earlier output removed from this page; the whole log is stored]\n";
          log.insertBefore(note, log.firstChild);
        }
      }
      if (atEnd) log.scrollTop = log.scrollHeight;
    }).observe(log, { childList: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
})();
