(function () {
  "use strict";
  var form = document.getElementById("login");
  var error = document.getElementById("error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    fetch("/staff/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ username: form.username.value, password: form.password.value, otp: form.otp.value || null })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) { location.href = "/staff"; } else { error.textContent = body.message || "Login failed"; }
      });
    }).catch(function () { error.textContent = "The server cannot be reached."; });
  });
})();
