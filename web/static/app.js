// The storefront uses the public API like any client.
async function loadProducts() {
  const res = await fetch('/api/v1/products?limit=50');
  const list = document.getElementById('product-list');
  if (!res.ok) { list.textContent = 'The catalog is unavailable right now.'; return; }
  const page = await res.json();
  for (const p of page.items) {
    const li = document.createElement('li');
    const name = document.createElement('h3');
    name.textContent = p.name;
    const price = document.createElement('div');
    price.className = 'price';
    price.textContent = (p.price_cents / 100).toFixed(2) + ' ' + p.currency;
    const desc = document.createElement('p');
    desc.textContent = p.description;
    li.append(name, price, desc);
    list.append(li);
  }
}
loadProducts();
