// Starts Swagger UI with the config the page embeds as JSON (no inline script under our CSP).
window.addEventListener("load", function () {
  var config = JSON.parse(document.getElementById("swagger-config").textContent);
  window.ui = SwaggerUIBundle(config);
});
