// Mug Shop: a small single-page shop used as the end-to-end target of otel-friction (tests/e2e).
// Plain JS, no framework: routes are rendered into <main id="app"> and changed with history.pushState.
//
// Friction switches (window.SHOP_CONFIG.friction from server.py, overridden by query parameters of any page,
// remembered for the tab in sessionStorage):
//   fake_link=1     the product gallery image looks like a link ("See all 12 photos ›", pointer cursor) but
//                   has no listener: a dead click. 0: it is wrapped in a real link to the photos section.
//   coupon_error=1  "Apply coupon" throws a TypeError. 0: the coupon is applied.
//   payment=ok|slow|fail   what POST /api/pay does (slow: server.py waits --slow-ms; fail: 502).
// The quantity stepper (− / +) is legitimate: fast clicks on it are not rage clicks.
(function () {
  'use strict';
  var cfg = window.SHOP_CONFIG || {};
  var friction = Object.assign({ fake_link: true, coupon_error: false, payment: 'ok' }, cfg.friction || {});
  try {
    Object.assign(friction, JSON.parse(sessionStorage.getItem('shop.friction') || '{}'));
  } catch (_e) { /* ignore */ }
  var params = new URLSearchParams(location.search);
  ['fake_link', 'coupon_error'].forEach(function (k) {
    if (params.has(k)) friction[k] = params.get(k) === '1' || params.get(k) === 'true';
  });
  if (params.has('payment')) friction.payment = params.get('payment');
  sessionStorage.setItem('shop.friction', JSON.stringify(friction));

  var PRODUCTS = {
    '1': { name: 'Blue mug', price: 12 },
    '2': { name: 'Red mug', price: 14 },
    '3': { name: 'Espresso cup', price: 9 },
  };
  var app = document.getElementById('app');
  var cart = JSON.parse(sessionStorage.getItem('shop.cart') || '[]');

  function saveCart() {
    sessionStorage.setItem('shop.cart', JSON.stringify(cart));
    var n = cart.reduce(function (a, i) { return a + i.qty; }, 0);
    document.getElementById('cart-count').textContent = String(n);
  }

  var ROUTES = [
    [/^\/product\/(\w+)$/, 'product', renderProduct],
    [/^\/cart$/, 'cart', renderCart],
    [/^\/checkout\/shipping$/, 'shipping', renderShipping],
    [/^\/checkout\/payment$/, 'payment', renderPayment],
    [/^\/checkout\/review$/, 'review', renderReview],
    [/^\/checkout\/confirmation$/, 'confirmation', renderConfirmation],
  ];

  function navigate(path) {
    history.pushState({}, '', path);
    render();
    window.scrollTo(0, 0);
  }

  function render() {
    var p = location.pathname;
    var name = 'shop';
    var fn = renderShop;
    var m = null;
    for (var i = 0; i < ROUTES.length; i++) {
      m = ROUTES[i][0].exec(p);
      if (m) { name = ROUTES[i][1]; fn = ROUTES[i][2]; break; }
    }
    fn(m);
    window.dispatchEvent(new CustomEvent('shop:route', { detail: { name: name, path: p } }));
  }

  function links(root) {
    root.querySelectorAll('a[data-spa]').forEach(function (a) {
      a.addEventListener('click', function (ev) { ev.preventDefault(); navigate(a.getAttribute('href')); });
    });
  }

  function renderShop() {
    var html = '<h1>Mugs</h1><div class="products">';
    Object.keys(PRODUCTS).forEach(function (id) {
      html += '<div class="product-card"><a data-spa id="product-' + id + '" href="/product/' + id + '">' +
        PRODUCTS[id].name + '</a><p>' + PRODUCTS[id].price.toFixed(2) + '</p></div>';
    });
    app.innerHTML = html + '</div>';
    links(app);
  }

  function renderProduct(m) {
    var id = m[1];
    var p = PRODUCTS[id] || { name: 'Unknown', price: 0 };
    var img = '<img id="gallery-image" src="/static/gallery.svg" alt="See all 12 photos">';
    app.innerHTML =
      '<h1>' + p.name + '</h1>' +
      '<div class="gallery">' + (friction.fake_link ? img : '<a id="gallery-link" href="#photos">' + img + '</a>') + '</div>' +
      '<p>' + p.price.toFixed(2) + '</p>' +
      '<div class="qty-stepper"><button type="button" id="qty-minus" aria-label="−">−</button>' +
      '<output id="qty-value">1</output>' +
      '<button type="button" id="qty-plus" aria-label="+">+</button></div>' +
      '<p><button type="button" id="add-to-cart">Add to cart</button></p>' +
      '<div id="photos"></div>';
    var qty = 1;
    var out = document.getElementById('qty-value');
    document.getElementById('qty-minus').addEventListener('click', function () { qty = Math.max(1, qty - 1); out.textContent = String(qty); });
    document.getElementById('qty-plus').addEventListener('click', function () { qty = Math.min(9, qty + 1); out.textContent = String(qty); });
    document.getElementById('add-to-cart').addEventListener('click', function () {
      fetch('/api/cart', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ sku: id, qty: qty }),
      }).then(function (r) { return r.json(); }).then(function () {
        cart.push({ sku: id, qty: qty, price: p.price });
        saveCart();
        navigate('/cart');
      });
    });
  }

  function renderCart() {
    var total = cart.reduce(function (a, i) { return a + i.qty * i.price; }, 0);
    app.innerHTML =
      '<h1>Cart</h1><ul>' + cart.map(function (i) { return '<li>' + i.qty + ' × ' + PRODUCTS[i.sku].name + '</li>'; }).join('') +
      '</ul><p>Total <span id="cart-total">' + total.toFixed(2) + '</span></p>' +
      '<p><label>Coupon <input id="coupon" name="coupon"></label> ' +
      '<button type="button" id="apply-coupon">Apply coupon</button> <span id="coupon-status"></span></p>' +
      '<p><button type="button" id="to-shipping">Checkout</button></p>';
    document.getElementById('apply-coupon').addEventListener('click', function () {
      if (friction.coupon_error) {
        var rules = undefined;
        return rules.discount; // TypeError: Cannot read properties of undefined (reading 'discount')
      }
      document.getElementById('coupon-status').textContent = 'Coupon applied';
    });
    document.getElementById('to-shipping').addEventListener('click', function () { navigate('/checkout/shipping'); });
  }

  function renderShipping() {
    app.innerHTML =
      '<h1>Shipping</h1>' +
      '<form id="shipping-form">' +
      '  <label>E-mail <input id="email" name="email" type="email" autocomplete="email" required></label>' +
      '  <label>Full name <input id="full-name" name="full_name" autocomplete="name" required></label>' +
      '  <label>Address <input id="address" name="address" autocomplete="street-address" required></label>' +
      '  <label>Postcode <input id="postcode" name="postcode" inputmode="numeric" pattern="[0-9]{5}" required></label>' +
      '  <p id="form-errors" class="error"></p>' +
      '  <button id="to-payment" type="submit">Continue to payment</button>' +
      '</form>';
    var form = document.getElementById('shipping-form');
    // Browser validation: a submit with bad fields fires `invalid` on each (otel-friction.js reports them as
    // browser.form.field_error) and no `submit`.
    form.addEventListener('invalid', function (ev) {
      ev.target.setAttribute('aria-invalid', 'true');
      document.getElementById('form-errors').textContent = 'Please fix the highlighted fields';
    }, true);
    form.addEventListener('input', function (ev) { ev.target.removeAttribute('aria-invalid'); });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      navigate('/checkout/payment');
    });
  }

  function renderPayment() {
    app.innerHTML =
      '<h1>Payment</h1><p>Card on file ending 4242</p>' +
      '<p><button type="button" id="pay">Pay now</button></p><p id="pay-status"></p>';
    document.getElementById('pay').addEventListener('click', function () {
      var status = document.getElementById('pay-status');
      status.textContent = 'Processing…';
      fetch('/api/pay', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ mode: friction.payment, amount: cart.length }),
      }).then(function (r) {
        if (!r.ok) { status.textContent = 'Payment failed (' + r.status + '), please try again'; status.className = 'error'; return; }
        navigate('/checkout/review');
      });
    });
  }

  function renderReview() {
    app.innerHTML = '<h1>Review</h1><p>Ships in 2 days.</p><p><button type="button" id="place-order">Place order</button></p>';
    document.getElementById('place-order').addEventListener('click', function () { navigate('/checkout/confirmation'); });
  }

  function renderConfirmation() {
    cart = [];
    saveCart();
    app.innerHTML = '<h1>Thank you</h1><p id="confirmation">Your order is confirmed.</p>';
  }

  links(document.getElementById('site-header'));
  window.addEventListener('popstate', render);
  window.shopApp = { navigate: navigate, friction: friction };
  saveCart();
  render();
})();
