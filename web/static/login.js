// The console's login page: show why the last attempt failed, and put the CSRF cookie into the form.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  if (params.get("failed") === "1") document.getElementById("failed").hidden = false;
  if (params.get("locked") === "1") document.getElementById("locked").hidden = false;
  const m = document.cookie.match(/(?:^|; )gxga_csrf=([^;]*)/);
  document.getElementById("csrf").value = m ? decodeURIComponent(m[1]) : "";
})();
