// Progressive enhancement only: every page works without this file.
// Ask before a cancellation (the form still posts without JavaScript).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (button && button.classList.contains("danger") && !window.confirm(button.textContent.trim() + "?")) {
    event.preventDefault();
  }
});
