// An HTMX action the server refused (4xx/5xx) is not swapped in by htmx: without this the click
// looks like it did nothing. Show the server's reason next to what was clicked. Polling (GET) stays quiet.
document.addEventListener("htmx:responseError", function (event) {
  var verb = (event.detail.requestConfig && event.detail.requestConfig.verb) || "";
  if (verb.toLowerCase() === "get") return;
  var xhr = event.detail.xhr;
  var text = (xhr.responseText || "").trim();
  if (!text || text.charAt(0) === "<" || text.length > 500) {
    text = "That did not work (HTTP " + xhr.status + "). Reload the page and try again.";
  }
  var target = event.detail.target || event.detail.elt;
  var note = target.querySelector(":scope > .htmx-error");
  if (!note) {
    note = document.createElement("p");
    note.className = "error htmx-error";
    note.setAttribute("role", "alert");
    target.appendChild(note);
  }
  note.textContent = text;
});

// When the session has ended, a background refresh is redirected to the login page: go there
// for real instead of drawing the whole login page inside the board.
document.addEventListener("htmx:beforeSwap", function (event) {
  var login = document.body.dataset.loginUrl;
  var url = event.detail.xhr.responseURL;
  if (!login || !url || new URL(url).pathname !== login) return;
  event.detail.shouldSwap = false;
  window.location.href = login + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
});
