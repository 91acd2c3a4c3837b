/* ort-geo: the staff map served by the API (/carte). This page holds no data: the planner signs in
 * with an API key (or the key of the editor's session in this tab), the working map is fetched
 * with it and replaces this page; its building tiles are fetched with the same key (tiles.js). */
(function () {
  "use strict";
  var KEY = "ortGeoEditorKey";  // the editor's session key (tiles.js reads the same)
  var $ = function (id) { return document.getElementById(id); };

  function refuse(text) {
    $("og-login-status").textContent = "";
    $("og-login-error").textContent = text;
    try { sessionStorage.removeItem(KEY); } catch (e) { /* storage disabled */ }
  }

  function open(key) {
    $("og-login-error").textContent = "";
    $("og-login-status").textContent = "Chargement de la carte…";
    fetch("carte/contenu", { headers: { "X-API-Key": key } }).then(function (resp) {
      if (!resp.ok) {
        return resp.json().then(function (d) { return d.description || resp.statusText; },
                                function () { return "erreur " + resp.status; })
          .then(function (m) { refuse("Connexion refusée : " + m); });
      }
      return resp.text().then(function (html) {
        try { sessionStorage.setItem(KEY, key); } catch (e) { /* the tiles will be public */ }
        document.open();
        document.write(html);
        document.close();
      });
    }, function (err) { refuse("Le serveur ne répond pas : " + err.message); });
  }

  $("og-login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    open($("og-key").value);
  });
  var saved = null;
  try { saved = sessionStorage.getItem(KEY); } catch (e) { /* storage disabled */ }
  if (saved) open(saved);
})();
