// Progressive enhancement only: every page works without this file.
// Ask before a cancellation (the form still posts without JavaScript).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (button && button.classList.contains("danger") && !window.confirm(button.textContent.trim() + "?")) {
    event.preventDefault();
  }
});

// Suggest the browser's own time zone in an empty time-zone field (sign-up, settings).
for (const field of document.querySelectorAll("input[name=time_zone]")) {
  if (!field.value) {
    try {
      field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      // no Intl: the field stays empty and the doctor's zone is used
    }
  }
}
