// Stripe Elements on the card page only (card.html): the page's data- attributes carry the
// publishable key and the payment intent's client secret; Stripe's webhook settles it.
const box = document.getElementById("card-box");
if (box && window.Stripe) {
  const stripe = window.Stripe(box.dataset.key);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const form = document.getElementById("card-form");
  const error = document.getElementById("card-error");
  const button = form.querySelector("button");
  button.disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    const result = await stripe.confirmCardPayment(box.dataset.secret, { payment_method: { card } });
    if (result.error) {
      error.textContent = result.error.message || "";
      button.disabled = false;
    } else {
      window.location.assign(box.dataset.done);
    }
  });
}
