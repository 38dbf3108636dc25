/* Help desk: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    // Start keyboard and screen-reader users at what went wrong (error summary or alert).
    var target = document.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }

    // An error-summary link moves focus to the field itself, not just scrolls to it, and
    // keeps its label in view.
    document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var input = document.getElementById(link.getAttribute("href").slice(1));
        if (!input) {
          return;
        }
        event.preventDefault();
        var holder = input.closest("fieldset") || input.closest(".field") || input;
        holder.scrollIntoView();
        input.focus({ preventScroll: true });
      });
    });

    // A double click must not send the same ticket twice.
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.sending) {
          event.preventDefault();
          return;
        }
        form.dataset.sending = "true";
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.setAttribute("aria-disabled", "true");
        });
      });
    });
  });

  // Coming back with the Back button restores the page as it was: let the form be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.sending;
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.removeAttribute("aria-disabled");
      });
    });
  });
})();
