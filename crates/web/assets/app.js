// nhiguard: the little behaviour pages need. No inline script anywhere (the CSP forbids it).
document.addEventListener('click', function (e) {
  var el = e.target.closest('[data-confirm]');
  if (el && !window.confirm(el.getAttribute('data-confirm'))) { e.preventDefault(); }
  var back = e.target.closest('[data-back]');
  if (back && window.history.length > 1) { e.preventDefault(); window.history.back(); }
});
