/* ort-geo: the planners' editor (/editeur). Every datum comes from the HTTP API with the key the
 * planner signs in with; drawing is Leaflet-Geoman's; checks, splits, merges and diffs are the
 * server's (library functions), so the browser never decides what the rules say. */
(function () {
  "use strict";
  var CFG = JSON.parse(document.getElementById("ed-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var S = {
    key: null, who: null, map: null, groups: {}, specs: {}, layer: null,
    sel: null,          // {layer, id, etag, isNew, feature}
    working: null,      // the Leaflet layer being edited
    extra: null,        // split: {kind:"split", part, id}; merge: {kind:"merge", id, etag}
    undo: [], redo: [], mode: null, perimeter: null, history: null
  };
  window.ortGeoEditor = S;

  // -- HTTP ------------------------------------------------------------------------------------
  function api(method, path, body, headers) {
    var h = Object.assign({ "X-API-Key": S.key }, headers || {});
    var init = { method: method, headers: h };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) { h["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init);
  }
  function problem(resp) {
    return resp.json().then(function (d) { return d.description || resp.statusText; },
                            function () { return "Erreur " + resp.status; });
  }
  function status(text, kind) {
    var p = $("ed-status");
    p.textContent = text;
    p.className = "ed-status" + (kind ? " ed-" + kind : "");
    $("ed-hint").textContent = text;
  }

  // -- sign-in -----------------------------------------------------------------------------------
  function signIn(key) {
    S.key = key;
    return api("GET", "editeur/session").then(function (resp) {
      if (!resp.ok) return problem(resp).then(function (m) { throw new Error(m); });
      return resp.json();
    }).then(function (who) {
      S.who = who;
      sessionStorage.setItem("ortGeoEditorKey", key);
      $("ed-login").hidden = true;
      $("ed-app").hidden = false;
      $("ed-who").textContent = "Connecté : " + who.nom + " (" + who.libelle_role + ")" +
        (who.peut_modifier ? "" : " — consultation seule");
      document.body.classList.toggle("ed-readonly", !who.peut_modifier);
      document.querySelectorAll("[data-editor-only]").forEach(function (b) {
        b.disabled = !who.peut_modifier;
      });
      return start();
    }).catch(function (err) {
      S.key = null;
      sessionStorage.removeItem("ortGeoEditorKey");
      $("ed-login-error").textContent = "Connexion refusée : " + err.message;
    });
  }

  // -- map ---------------------------------------------------------------------------------------
  function styleFor(st, props, editable) {
    var fill = st.fill;
    if (st.category && props && st.palette[String(props[st.category])]) fill = st.palette[String(props[st.category])];
    return { color: st.color, weight: st.weight || 2, dashArray: st.dash, fillColor: fill,
             fillOpacity: editable ? 0.25 : 0.12, pmIgnore: !editable, snapIgnore: false };
  }

  function labelOf(spec, props, id) {
    var parts = (spec.style.label || ["nom"]).map(function (n) { return props[n]; }).filter(Boolean);
    return parts.length ? parts.join(" — ") : id;
  }

  function start() {
    var map = L.map("ed-map", { zoomControl: true, keyboard: true });
    S.map = map;
    map.attributionControl.setPrefix("Leaflet");
    var bases = {};
    CFG.basemaps.forEach(function (b, i) {
      var layer = b.url ? L.tileLayer(b.url, { attribution: b.attribution, maxZoom: 19 }) : L.layerGroup();
      bases[b.name] = layer;
      if (i === CFG.basemap) layer.addTo(map);
    });
    S.control = L.control.layers(bases, {}, { collapsed: true }).addTo(map);
    map.pm.setLang("fr");
    map.pm.setGlobalOptions({ snappable: true, snapDistance: 15, allowSelfIntersection: false,
                              templineStyle: { color: "#ca6f1e" }, hintlineStyle: { color: "#ca6f1e", dashArray: "5 5" } });
    S.violations = L.featureGroup().addTo(map);
    S.conflict = L.featureGroup().addTo(map);
    S.versions = L.featureGroup().addTo(map);
    S.found = L.featureGroup().addTo(map);
    map.on("pm:create", onCreate);
    map.on("pm:cut", function (e) {
      if (e.originalLayer !== S.working) return;
      S.working = e.layer;
      styleWorking();
      pushUndo();
      stopModes();
      status("Trou découpé : vérifiez puis enregistrez.");
    });
    var select = $("ed-layer");
    CFG.layers.forEach(function (l) {
      S.specs[l.name] = l;
      var o = document.createElement("option");
      o.value = l.name; o.textContent = l.title;
      select.appendChild(o);
    });
    S.layer = CFG.layers[0].name;
    select.addEventListener("change", function () { S.layer = select.value; cancel(); renderList(); });
    select.addEventListener("change", shapeChoice);
    shapeChoice();
    var loads = CFG.context.map(loadContext).concat(CFG.layers.map(loadLayer));
    return Promise.all(loads).then(function () {
      var bounds = L.latLngBounds([]);
      ["secteurs_ort"].concat(CFG.layers.map(function (l) { return l.name; })).forEach(function (n) {
        var g = S.groups[n];
        if (g && g.getLayers().length && !bounds.isValid()) bounds = g.getBounds();
      });
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20] });
      else map.setView([48.24, 7.18], 13);
      renderList();
      fillSectors();
      loadBuildings();
      window.ortGeoEditorReady = true;
      window.ortGeoEditorReadyAt = performance.now();
    });
  }

  function getAll(name) {
    return api("GET", "collections/" + name + "/items?limit=10000").then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { throw new Error(m); });
      return r.json();
    });
  }

  function loadContext(ctx) {
    return getAll(ctx.name).then(function (fc) {
      var g = L.geoJSON(fc, { style: function () { return styleFor(ctx.style, null, false); },
                               interactive: false, pmIgnore: true, snapIgnore: false });
      S.control.addOverlay(g, ctx.title);
      if (ctx.name === "communes") g.addTo(map());
      S.groups[ctx.name] = g;
    });
  }
  function map() { return S.map; }

  function loadLayer(spec) {
    return getAll(spec.name).then(function (fc) {
      var g = L.geoJSON(fc, {
        style: function (f) { return styleFor(spec.style, f.properties, true); },
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 7 }); },
        pmIgnore: true, snapIgnore: false,
        onEachFeature: function (f, layer) {
          layer.bindTooltip(spec.title + " : " + labelOf(spec, f.properties, f.id));
          layer.on("click", function (e) {
            if (S.mode === "merge") { L.DomEvent.stopPropagation(e); return mergeWith(spec.name, f.id); }
            if (S.mode) return;  // drawing: the click is geoman's (a vertex on this zone)
            L.DomEvent.stopPropagation(e);
            if (S.layer !== spec.name) { S.layer = spec.name; $("ed-layer").value = spec.name; renderList(); }
            select(spec.name, String(f.id));
          });
        }
      });
      g.addTo(map());
      S.control.addOverlay(g, spec.title);
      S.groups[spec.name] = g;
    });
  }

  function shapeChoice() {
    var any = S.specs[$("ed-layer").value].geometry === "Any";
    $("ed-shape").hidden = !any;
    $("ed-shape-label").hidden = !any;
  }

  function findLayer(name, id) {
    var found = null;
    S.groups[name].eachLayer(function (l) { if (String(l.feature.id) === String(id)) found = l; });
    return found;
  }

  function renderList() {
    var ul = $("ed-list"), spec = S.specs[S.layer];
    ul.innerHTML = "";
    var items = [];
    S.groups[S.layer].eachLayer(function (l) { items.push(l.feature); });
    items.sort(function (a, b) { return labelOf(spec, a.properties, a.id).localeCompare(labelOf(spec, b.properties, b.id), "fr"); });
    items.forEach(function (f) {
      var li = document.createElement("li"), b = document.createElement("button");
      b.type = "button";
      b.dataset.id = f.id;
      b.textContent = labelOf(spec, f.properties, f.id);
      b.addEventListener("click", function () { select(S.layer, String(f.id)); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function loadBuildings() {
    // Served tile by tile by the API (OGC API – Tiles): any extent of the store, a whole
    // département as well as one town; the key goes with each request.
    if (!window.ortGeoTiles) return;
    var b = CFG.buildings;
    var grid = ortGeoTiles.layer(b.url, {
      headers: { "X-API-Key": S.key },
      mode: "etat", palette: b.palette, fields: [["adresse", "Adresse"], ["etat", "État du bâti"],
        ["nb_logements", "Logements"], ["nb_logements_vacants", "Logements vacants"]],
      conditions: b.palette, minZoom: b.minZoom, maxNativeZoom: b.maxNativeZoom,
      interactive: false  // context while drawing: clicks must reach the map and geoman
    });
    grid.addTo(map());
    S.control.addOverlay(grid, "Bâtiments (état du bâti)");
    S.buildings = grid;
    window.ortGeoEditorTiles = "charges";
  }

  // -- selection, form ---------------------------------------------------------------------------
  function select(name, id) {
    cancel();
    return api("GET", "collections/" + name + "/items/" + encodeURIComponent(id)).then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { status(m, "error"); });
      var etag = r.headers.get("ETag");
      return r.json().then(function (f) {
        S.sel = { layer: name, id: id, etag: etag, isNew: false, feature: f };
        var original = findLayer(name, id);
        if (original) original.setStyle({ opacity: 0.15, fillOpacity: 0.05 });
        setWorking(f.geometry);
        showForm(f.properties, false);
        S.undo = [f.geometry]; S.redo = [];
        if (S.working.getBounds) map().fitBounds(S.working.getBounds(), { maxZoom: 17, padding: [40, 40], animate: false });
        status("« " + labelOf(S.specs[name], f.properties, id) + " » sélectionné : choisissez un outil.");
        if (S.history) loadVersions();
        $("ed-history-target").textContent = "Historique de « " + labelOf(S.specs[name], f.properties, id) + " »";
      });
    });
  }

  function setWorking(geometry) {
    if (S.working) map().removeLayer(S.working);
    var gj = L.geoJSON({ type: "Feature", properties: {}, geometry: geometry }, {
      pointToLayer: function (f, latlng) { return L.marker(latlng); }, snapIgnore: true
    });
    S.working = gj.getLayers()[0];
    S.working.options.snapIgnore = true;  // never snap onto itself
    S.working.addTo(map());
    styleWorking();
  }
  function styleWorking() {
    if (S.working && S.working.setStyle) S.working.setStyle({ color: "#ca6f1e", weight: 3, fillOpacity: 0.3, fillColor: "#f5b041" });
    if (S.working) S.working.on("pm:edit pm:dragend", function () { pushUndo(); });
  }
  function geometry() { return S.working ? S.working.toGeoJSON(false).geometry : null; }

  function showForm(props, isNew) {
    var spec = S.specs[S.sel.layer], box = $("ed-fields");
    box.innerHTML = "";
    spec.fields.forEach(function (f) {
      var id = "ed-f-" + f.name, wrap = document.createElement("div"), label = document.createElement("label");
      wrap.className = "ed-field";
      label.htmlFor = id;
      label.textContent = f.label + (f.required ? " *" : "");
      var input;
      if (f.type === "enum" || f.type === "bool") {
        input = document.createElement("select");
        var opts = f.type === "bool" ? [["", "—"], ["true", "Oui"], ["false", "Non"]] : [["", "—"]].concat(f.choices);
        opts.forEach(function (c) { var o = document.createElement("option"); o.value = c[0]; o.textContent = c[1]; input.appendChild(o); });
      } else {
        input = document.createElement("input");
        input.type = { int: "number", float: "number", date: "date" }[f.type] || "text";
        if (f.type === "float") input.step = "any";
        if (f.min !== undefined) input.min = f.min;
        if (f.max !== undefined) input.max = f.max;
      }
      input.id = id;
      input.name = f.name;
      if (f.required) { input.required = true; input.setAttribute("aria-required", "true"); }
      var v = props[f.name];
      if (v !== null && v !== undefined) input.value = f.type === "date" ? String(v).slice(0, 10) : String(v);
      if (f.name === spec.key) { input.value = isNew ? (v || "") : S.sel.id; input.readOnly = !isNew; }
      wrap.appendChild(label); wrap.appendChild(input); box.appendChild(wrap);
    });
    $("ed-form-title").textContent = isNew ? "Nouvel objet — " + spec.title : "Attributs — " + spec.title;
    $("ed-form-panel").hidden = false;
    $("ed-conflict").hidden = true;
  }

  function formProps() {
    var spec = S.specs[S.sel.layer], props = {}, missing = [];
    spec.fields.forEach(function (f) {
      var raw = $("ed-f-" + f.name).value.trim(), v = null;
      if (raw !== "") {
        if (f.type === "int") v = parseInt(raw, 10);
        else if (f.type === "float") v = parseFloat(raw.replace(",", "."));
        else if (f.type === "bool") v = raw === "true";
        else v = raw;
      } else if (f.required) missing.push(f.label);
      props[f.name] = v;
    });
    return { props: props, missing: missing, id: props[spec.key] };
  }

  // -- drawing tools -----------------------------------------------------------------------------
  function stopModes() {
    map().pm.disableDraw();
    if (map().pm.globalCutModeEnabled()) map().pm.disableGlobalCutMode();
    if (S.working && S.working.pm) { S.working.pm.disable(); if (S.working.pm.disableLayerDrag) S.working.pm.disableLayerDrag(); }
    S.mode = null;
  }

  function needSelection() {
    if (!S.working) { status("Choisissez d'abord un objet (liste ou carte).", "error"); return false; }
    return true;
  }

  function newFeature() {
    cancel();
    var spec = S.specs[S.layer];
    S.mode = "create";
    var shape = spec.geometry === "LineString" ? "Line" :
      spec.geometry === "Any" ? $("ed-shape").value : "Polygon";
    map().pm.enableDraw(shape, { snappable: true });
    status(shape === "Marker" ? "Cliquez sur la carte pour placer le point." :
           "Cliquez sur la carte pour placer les sommets ; cliquez sur le " +
           (shape === "Line" ? "dernier" : "premier") + " pour terminer.");
  }

  function onCreate(e) {
    var mode = S.mode;
    if (mode === "create") {
      map().removeLayer(e.layer);
      stopModes();
      var spec = S.specs[S.layer];
      S.sel = { layer: S.layer, id: null, etag: null, isNew: true, feature: null };
      setWorking(e.layer.toGeoJSON(false).geometry);
      var props = {};
      props[spec.key] = S.layer.replace(/_.*/, "") + "-" + Date.now().toString(36);
      showForm(props, true);
      S.undo = [geometry()]; S.redo = [];
      status("Objet dessiné : remplissez les attributs, vérifiez puis enregistrez.");
    } else if (mode === "split") {
      map().removeLayer(e.layer);
      stopModes();
      split(e.layer.toGeoJSON(false).geometry);
    } else if (mode === "perimeter") {
      stopModes();
      S.found.clearLayers();
      S.perimeter = e.layer.toGeoJSON(false).geometry;
      e.layer.setStyle({ color: "#1f618d", dashArray: "6 4", fillOpacity: 0.05 });
      e.layer.options.pmIgnore = true;
      S.found.addLayer(e.layer);
      $("ed-q-sector").value = "";
      $("ed-q-stats").textContent = "Périmètre dessiné : lancez la recherche.";
    } else {
      map().removeLayer(e.layer);
    }
  }

  function reshape() {
    if (!needSelection()) return;
    stopModes();
    S.mode = "reshape";
    S.working.pm.enable({ snappable: true, allowSelfIntersection: false });
    status("Faites glisser les sommets (aimantés aux communes et zones voisines) ; Échap pour finir.");
  }
  function hole() {
    if (!needSelection()) return;
    stopModes();
    S.mode = "hole";
    map().pm.enableGlobalCutMode({ layersToCut: [S.working], snappable: true });
    status("Dessinez le trou à l'intérieur de la zone ; cliquez sur le premier sommet pour fermer.");
  }
  function startSplit() {
    if (!needSelection()) return;
    if (S.sel.isNew) { status("Enregistrez d'abord l'objet avant de le couper.", "error"); return; }
    stopModes();
    S.mode = "split";
    map().pm.enableDraw("Line", { snappable: false, finishOn: "dblclick" });
    status("Tracez une ligne qui traverse la zone de part en part ; double-cliquez pour finir.");
  }
  function split(line) {
    api("POST", "editeur/decoupage", { geometry: geometry(), ligne: line }).then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { status(m, "error"); });
      return r.json().then(function (fc) {
        setWorking(fc.features[0].geometry);
        pushUndo();
        var part = L.geoJSON(fc.features[1], { style: { color: "#1e8449", weight: 3, fillOpacity: 0.3 } });
        if (S.extra && S.extra.layer) map().removeLayer(S.extra.layer);
        S.extra = { kind: "split", geometry: fc.features[1].geometry, layer: part.addTo(map()),
                    id: S.sel.id + "-b" };
        status("Zone coupée en deux : la partie verte deviendra « " + S.extra.id + " » (mêmes attributs) à l'enregistrement.");
      });
    });
  }
  function startMerge() {
    if (!needSelection()) return;
    stopModes();
    S.mode = "merge";
    status("Cliquez sur la zone voisine à réunir avec celle-ci.");
  }
  function mergeWith(name, id) {
    S.mode = null;
    if (name !== S.sel.layer || String(id) === String(S.sel.id)) { status("Choisissez une autre zone de la même couche.", "error"); return; }
    api("GET", "collections/" + name + "/items/" + encodeURIComponent(id)).then(function (r) {
      var etag = r.headers.get("ETag");
      return r.json().then(function (other) {
        return api("POST", "editeur/fusion", { geometries: [geometry(), other.geometry] }).then(function (m) {
          if (!m.ok) return problem(m).then(function (t) { status(t, "error"); });
          return m.json().then(function (g) {
            setWorking(g);
            pushUndo();
            S.extra = { kind: "merge", id: String(id), etag: etag };
            var l = findLayer(name, id);
            if (l) l.setStyle({ opacity: 0.15, fillOpacity: 0.05 });
            status("Zones réunies : « " + id + " » sera supprimée à l'enregistrement.");
          });
        });
      });
    });
  }
  function move() {
    if (!needSelection()) return;
    stopModes();
    S.mode = "move";
    S.working.pm.enableLayerDrag();
    status("Faites glisser l'objet à sa nouvelle place ; Échap pour finir.");
  }

  function pushUndo() {
    var g = geometry();
    if (!g) return;
    var last = S.undo[S.undo.length - 1];
    if (last && JSON.stringify(last) === JSON.stringify(g)) return;
    S.undo.push(g);
    S.redo = [];
  }
  function undo() {
    if (S.undo.length < 2) { status("Rien à annuler."); return; }
    stopModes();
    S.redo.push(S.undo.pop());
    setWorking(S.undo[S.undo.length - 1]);
    status("Annulé (" + (S.undo.length - 1) + " étape(s) restantes).");
  }
  function redo() {
    if (!S.redo.length) { status("Rien à rétablir."); return; }
    stopModes();
    var g = S.redo.pop();
    S.undo.push(g);
    setWorking(g);
    status("Rétabli.");
  }

  function cancel() {
    stopModes();
    if (S.working) map().removeLayer(S.working);
    if (S.extra && S.extra.layer) map().removeLayer(S.extra.layer);
    S.working = null; S.extra = null; S.sel = null;
    S.violations.clearLayers(); S.conflict.clearLayers(); S.versions.clearLayers();
    $("ed-violations").innerHTML = "";
    $("ed-form-panel").hidden = true;
    Object.keys(S.groups).forEach(function (n) {
      var spec = S.specs[n];
      if (spec) S.groups[n].eachLayer(function (l) { if (l.setStyle) l.setStyle(styleFor(spec.style, l.feature.properties, true)); });
    });
  }

  // -- check, save, conflict ---------------------------------------------------------------------
  function candidate(props, id) {
    return { type: "Feature", id: id, properties: props, geometry: geometry() };
  }

  function check() {
    if (!S.sel || !S.working) return Promise.resolve(false);
    var form = formProps(), spec = S.specs[S.sel.layer], path, body;
    if (!form.id) { status("Identifiant obligatoire.", "error"); return Promise.resolve(false); }
    if (S.extra && (S.extra.kind === "split" || S.extra.kind === "merge")) {
      body = { type: "FeatureCollection", features: [candidate(form.props, form.id)], supprimer: [] };
      if (S.extra.kind === "split") {
        var p2 = Object.assign({}, form.props); p2[spec.key] = S.extra.id;
        body.features.push({ type: "Feature", id: S.extra.id, properties: p2, geometry: S.extra.geometry });
      } else body.supprimer.push(S.extra.id);
      path = "collections/" + S.sel.layer + "/verification";
    } else {
      body = candidate(form.props, form.id);
      path = "collections/" + S.sel.layer + "/items/" + encodeURIComponent(form.id) + "/verification";
    }
    status("Vérification des règles…");
    return api("POST", path, body).then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { showViolations(null, m); return false; });
      return r.json().then(function (fc) { showViolations(fc); return fc.valide; });
    });
  }

  function showViolations(fc, error) {
    S.violations.clearLayers();
    var box = $("ed-violations");
    box.innerHTML = "";
    if (error) { box.innerHTML = ""; var p = document.createElement("p"); p.className = "ed-error"; p.textContent = error; box.appendChild(p); status(error, "error"); return; }
    if (!fc.features.length) { status("Règles respectées : vous pouvez enregistrer.", "ok"); return; }
    var h = document.createElement("h3");
    h.textContent = fc.valide ? "Avertissements" : "Règles enfreintes — corrigez avant d'enregistrer";
    box.appendChild(h);
    var ul = document.createElement("ul");
    fc.features.forEach(function (f) {
      var p = f.properties, li = document.createElement("li");
      li.className = "ed-v-" + p.gravite;
      li.textContent = "[" + p.regle + "] " + p.titre + " — " + (p.objet ? "« " + p.objet + " » : " : "") + p.message;
      ul.appendChild(li);
      if (f.geometry) {
        L.geoJSON(f, {
          style: { color: p.gravite === "erreur" ? "#c0392b" : "#b7950b", weight: 3, fillOpacity: 0.45, fillColor: "#e74c3c" },
          pointToLayer: function (ft, latlng) { return L.circleMarker(latlng, { radius: 10, color: "#c0392b" }); },
          pmIgnore: true, snapIgnore: true, interactive: true
        }).bindTooltip(p.message, { sticky: true }).addTo(S.violations);
      }
    });
    box.appendChild(ul);
    status(fc.valide ? "Règles respectées (avec avertissements)." : "Règles enfreintes : voir la carte et la liste.", fc.valide ? "ok" : "error");
  }

  function message() { return encodeURIComponent($("ed-message").value.trim()); }

  function write(method, layer, id, body, etag) {
    var path = "collections/" + layer + "/items" + (method === "POST" ? "" : "/" + encodeURIComponent(id)) + "?message=" + message();
    return api(method, path, body, etag ? { "If-Match": etag } : {});
  }

  function save() {
    if (!S.sel || !S.who.peut_modifier) return Promise.resolve();
    var form = formProps();
    if (form.missing.length) { status("Champs obligatoires manquants : " + form.missing.join(", ") + ".", "error"); return Promise.resolve(); }
    stopModes();
    // A single feature is checked by the save itself (the editing route runs the same rules and
    // refuses with 422: the violations are then drawn); a split or a merge writes several
    // features, so all of them are checked together first and nothing is half-done.
    var several = S.extra && (S.extra.kind === "split" || S.extra.kind === "merge");
    status("Enregistrement…");
    return (several ? check() : Promise.resolve(true)).then(function (ok) {
      if (!ok) return;
      var sel = S.sel, feature = candidate(form.props, form.id), extra = S.extra;
      var steps;
      if (several) {
        // One request, one transaction: if any change is refused, none is written.
        var changes = [];
        if (extra.kind === "merge") changes.push({ operation: "delete", id: extra.id, etag: extra.etag });
        changes.push(sel.isNew ? { operation: "create", id: form.id, objet: feature }
                               : { operation: "replace", id: sel.id, objet: feature, etag: sel.etag });
        if (extra.kind === "split") {
          var p2 = Object.assign({}, form.props); p2[S.specs[sel.layer].key] = extra.id;
          changes.push({ operation: "create", id: extra.id,
                         objet: { type: "Feature", id: extra.id, properties: p2, geometry: extra.geometry } });
        }
        steps = api("POST", "collections/" + sel.layer + "/modifications?message=" + message(), { changements: changes });
      } else {
        steps = sel.isNew ? write("POST", sel.layer, null, feature) : write("PUT", sel.layer, sel.id, feature, sel.etag);
      }
      steps = steps.then(function (r) { if (!r.ok) throw r; return r; });
      return steps.then(function () {
        var id = form.id;
        return reload(sel.layer).then(function () { return select(sel.layer, id); }).then(function () {
          status("Enregistré dans le journal (" + S.who.nom + ").", "ok");
        });
      }, function (r) {
        if (!(r instanceof Response)) { status(String(r), "error"); return; }
        if (r.status === 412) return conflict(sel, form);
        if (r.status === 422) return check();  // rules broken: draw where and why
        return problem(r).then(function (m) { showViolations(null, m); });
      });
    });
  }

  function reload(name) {
    map().removeLayer(S.groups[name]);
    S.control.removeLayer(S.groups[name]);
    return loadLayer(S.specs[name]).then(renderList);
  }

  function conflict(sel, form) {
    return api("GET", "collections/" + sel.layer + "/items/" + encodeURIComponent(sel.id)).then(function (r) {
      var etag = r.headers.get("ETag");
      return r.json().then(function (theirs) {
        S.conflict.clearLayers();
        L.geoJSON(theirs, { style: { color: "#1f618d", weight: 3, fillOpacity: 0.2 }, pmIgnore: true })
          .bindTooltip("Version enregistrée entre-temps").addTo(S.conflict);
        L.geoJSON({ type: "Feature", properties: {}, geometry: geometry() },
                  { style: { color: "#ca6f1e", weight: 3, dashArray: "8 6", fill: false }, pmIgnore: true })
          .bindTooltip("Votre version").addTo(S.conflict);
        S.theirs = { feature: theirs, etag: etag, mine: { geometry: geometry(), props: form.props } };
        $("ed-conflict").hidden = false;
        $("ed-keep-mine").focus();
        status("Conflit : la zone a été modifiée par quelqu'un d'autre pendant votre travail.", "error");
      });
    });
  }
  function keepMine() {
    S.sel.etag = S.theirs.etag;
    S.conflict.clearLayers();
    $("ed-conflict").hidden = true;
    return save();
  }
  function takeTheirs() {
    S.conflict.clearLayers();
    $("ed-conflict").hidden = true;
    var sel = S.sel;
    return reload(sel.layer).then(function () { return select(sel.layer, sel.id); })
      .then(function () { status("Version de l'autre éditeur reprise ; la vôtre est abandonnée."); });
  }
  function redraw() {
    var t = S.theirs;
    $("ed-conflict").hidden = true;
    S.sel.etag = t.etag;
    setWorking(t.feature.geometry);
    pushUndo();
    S.conflict.clearLayers();
    L.geoJSON({ type: "Feature", properties: {}, geometry: t.mine.geometry },
              { style: { color: "#ca6f1e", weight: 2, dashArray: "8 6", fill: false }, pmIgnore: true, snapIgnore: false })
      .bindTooltip("Votre version (repère)").addTo(S.conflict);
    reshape();
    status("Reprenez votre tracé sur la version enregistrée (votre version reste en tirets, aimantée).");
  }

  function removeFeature() {
    if (!needSelection() || S.sel.isNew) return;
    if (!window.confirm("Supprimer « " + S.sel.id + " » ? (la suppression est journalisée et réversible depuis l'historique)")) return;
    var sel = S.sel;
    return write("DELETE", sel.layer, sel.id, undefined, sel.etag).then(function (r) {
      if (r.status === 412) return conflict(sel, formProps());
      if (!r.ok) return problem(r).then(function (m) { showViolations(null, m); });
      cancel();
      return reload(sel.layer).then(function () { status("« " + sel.id + " » supprimé.", "ok"); });
    });
  }

  // -- history -----------------------------------------------------------------------------------
  function itemPath() { return "collections/" + S.sel.layer + "/items/" + encodeURIComponent(S.sel.id); }

  function loadVersions() {
    var ol = $("ed-versions");
    ol.innerHTML = "";
    $("ed-diff").innerHTML = "";
    if (!S.sel || S.sel.isNew) return Promise.resolve();
    return api("GET", itemPath() + "/versions").then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { $("ed-diff").textContent = "Historique indisponible : " + m; });
      return r.json().then(function (data) {
        S.history = data.versions || data;
        S.history.forEach(function (v) {
          var li = document.createElement("li"), box = document.createElement("input"),
              show = document.createElement("button");
          box.type = "checkbox"; box.value = v.version; box.id = "ed-v-" + v.version;
          box.setAttribute("aria-label", "Comparer la version " + v.version);
          show.type = "button"; show.dataset.version = v.version;
          show.textContent = "v" + v.version + " — " + (v.date || "").slice(0, 16).replace("T", " ") +
            " — " + (v.auteur || "") + (v.message ? " — « " + v.message + " »" : "") +
            (v.operation === "delete" || v.operation === "suppression" ? " (supprimé)" : "");
          show.addEventListener("click", function () { showVersion(v.version); });
          li.appendChild(box); li.appendChild(show); ol.appendChild(li);
        });
      });
    });
  }
  function showVersion(n) {
    return api("GET", itemPath() + "/versions/" + n).then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { status(m, "error"); });
      return r.json().then(function (f) {
        S.versions.clearLayers();
        if (f.geometry) L.geoJSON(f, { style: { color: "#6c3483", weight: 3, dashArray: "4 4", fillOpacity: 0.15 }, pmIgnore: true })
          .bindTooltip("Version " + n).addTo(S.versions);
        S.shownVersion = n;
        status("Version " + n + " affichée (violet).");
      });
    });
  }
  function compare() {
    var picked = Array.prototype.slice.call(document.querySelectorAll("#ed-versions input:checked")).map(function (b) { return b.value; });
    if (picked.length !== 2) { status("Cochez exactement deux versions à comparer.", "error"); return Promise.resolve(); }
    picked.sort(function (a, b) { return a - b; });
    return api("GET", itemPath() + "/diff?de=" + picked[0] + "&a=" + picked[1]).then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { status(m, "error"); });
      return r.json().then(function (d) {
        S.versions.clearLayers();
        var colours = { gagnee: ["#1e8449", "#2ecc71"], perdue: ["#922b21", "#e74c3c"] };
        d.features.forEach(function (f) {
          var role = f.properties.role, c = colours[role];
          var st = c ? { color: c[0], fillColor: c[1], fillOpacity: 0.6, weight: 1 }
                     : { color: role === "avant" ? "#7f8c8d" : "#1b2631", weight: 2, dashArray: role === "avant" ? "6 4" : null, fill: false };
          L.geoJSON(f, { style: st, pmIgnore: true }).bindTooltip(f.properties.libelle).addTo(S.versions);
        });
        S.diff = d;
        renderDiff(d, picked);
      });
    });
  }
  function fmtHa(v) { return v === null || v === undefined ? "—" : Number(v).toLocaleString("fr-FR", { maximumFractionDigits: 2, minimumFractionDigits: 2 }) + " ha"; }
  function fmt(v) { return v === null || v === undefined ? "—" : (typeof v === "number" ? v.toLocaleString("fr-FR", { maximumFractionDigits: 1 }) : String(v)); }
  function renderDiff(d, picked) {
    var box = $("ed-diff"), s = d.surfaces || {};
    box.innerHTML = "";
    var h = document.createElement("h3");
    h.textContent = "Version " + picked[0] + " → version " + picked[1];
    box.appendChild(h);
    var p = document.createElement("p");
    p.innerHTML = '<span class="ed-gain">■ Surface gagnée : <strong id="ed-gain-ha"></strong></span><br>' +
                  '<span class="ed-loss">■ Surface perdue : <strong id="ed-loss-ha"></strong></span><br>' +
                  'Surface : <span id="ed-area-ha"></span>';
    box.appendChild(p);
    $("ed-gain-ha").textContent = fmtHa(s.gagnee_ha);
    $("ed-loss-ha").textContent = fmtHa(s.perdue_ha);
    $("ed-area-ha").textContent = fmtHa(s.avant_ha) + " → " + fmtHa(s.apres_ha);
    var stats = d.statistiques, labels = d.libelles || {};
    if (stats) {
      var t = document.createElement("table"), head = t.insertRow();
      t.createCaption().textContent = "Statistiques du secteur avant et après";
      ["", "Avant", "Après"].forEach(function (x) { var th = document.createElement("th"); th.textContent = x; head.appendChild(th); });
      Object.keys(labels).forEach(function (n) {
        var row = t.insertRow(), th = document.createElement("th");
        th.textContent = labels[n]; row.appendChild(th);
        row.insertCell().textContent = fmt(stats.avant && stats.avant[n]);
        row.insertCell().textContent = fmt(stats.apres && stats.apres[n]);
      });
      box.appendChild(t);
    }
  }
  function restore() {
    if (!S.shownVersion) { status("Affichez d'abord la version à restaurer.", "error"); return Promise.resolve(); }
    var sel = S.sel, n = S.shownVersion;
    return api("POST", itemPath() + "/versions/" + n + "/restore", { message: $("ed-message").value.trim() }, { "If-Match": sel.etag }).then(function (r) {
      if (r.status === 412) return conflict(sel, formProps());
      if (!r.ok) return problem(r).then(function (m) { status(m, "error"); });
      return reload(sel.layer).then(function () { return select(sel.layer, sel.id); }).then(loadVersions)
        .then(function () { status("Version " + n + " restaurée comme nouvelle version.", "ok"); });
    });
  }

  // -- query by drawing (staff) ------------------------------------------------------------------
  function fillSectors() {
    var sel = $("ed-q-sector"), g = S.groups.secteurs_ort;
    if (!g) return;
    g.eachLayer(function (l) {
      var o = document.createElement("option");
      o.value = l.feature.id; o.textContent = labelOf(S.specs.secteurs_ort, l.feature.properties, l.feature.id);
      sel.appendChild(o);
    });
    var etat = $("ed-q-etat");
    CFG.query.conditions.forEach(function (c) { var o = document.createElement("option"); o.value = c[0]; o.textContent = c[1]; etat.appendChild(o); });
  }
  function queryParams(fmt) {
    var q = [];
    if ($("ed-q-vacant").checked) q.push("vacant=true");
    if ($("ed-q-longue").checked) q.push("vacance_longue=true");
    if ($("ed-q-pdl").checked) q.push("permis_de_louer=true");
    Array.prototype.forEach.call($("ed-q-etat").selectedOptions, function (o) { q.push("etat=" + o.value); });
    if ($("ed-q-apres").value) q.push("construit_apres=" + $("ed-q-apres").value);
    if ($("ed-q-avant").value) q.push("construit_avant=" + $("ed-q-avant").value);
    if (fmt) q.push("f=" + fmt);
    return q.join("&");
  }
  function runQuery(fmt) {
    var sector = $("ed-q-sector").value, file = $("ed-q-file").files[0], req;
    if (sector) req = api("GET", "collections/secteurs_ort/items/" + encodeURIComponent(sector) + "/batiments?" + queryParams(fmt));
    else if (file) { var fd = new FormData(); fd.append("fichier", file); req = api("POST", "batiments/within?" + queryParams(fmt), fd); }
    else if (S.perimeter) req = api("POST", "batiments/within?" + queryParams(fmt), S.perimeter);
    else { $("ed-q-stats").textContent = "Dessinez un périmètre, envoyez un fichier ou choisissez un secteur."; return Promise.resolve(); }
    return req.then(function (r) {
      if (!r.ok) return problem(r).then(function (m) { $("ed-q-stats").textContent = m; });
      if (fmt) return r.blob().then(function (blob) { download(blob, "batiments." + fmt); });
      return r.json().then(showBuildings);
    });
  }
  function download(blob, name) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
    $("ed-q-stats").dataset.export = name;
  }
  function showBuildings(fc) {
    S.found.eachLayer(function (l) { if (!l.options || l.options.dashArray !== "6 4") S.found.removeLayer(l); });
    var layer = L.geoJSON(fc, { style: { color: "#6c3483", weight: 2, fillOpacity: 0.6, fillColor: "#a569bd" }, pmIgnore: true,
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 4 }); } });
    S.found.addLayer(layer);
    var n = fc.features.length, logements = 0, vacants = 0, longs = 0, year = new Date().getFullYear();
    fc.features.forEach(function (f) {
      var p = f.properties;
      logements += p.nb_logements || 0; vacants += p.nb_logements_vacants || 0;
      if (p.annee_debut_vacance && year - p.annee_debut_vacance >= 2) longs += 1;
    });
    var s = $("ed-q-stats");
    s.innerHTML = "";
    var t = document.createElement("table");
    [["Bâtiments", n], ["Logements", logements], ["Logements vacants", vacants],
     ["Taux de vacance", logements ? (100 * vacants / logements).toLocaleString("fr-FR", { maximumFractionDigits: 1 }) + " %" : "—"]]
      .forEach(function (pair) { var row = t.insertRow(); var th = document.createElement("th"); th.textContent = pair[0]; row.appendChild(th); row.insertCell().textContent = typeof pair[1] === "number" ? pair[1].toLocaleString("fr-FR") : pair[1]; });
    var cap = t.createCaption(); cap.textContent = "Statistiques des bâtiments trouvés";
    s.appendChild(t);
    var ul = $("ed-q-list");
    ul.innerHTML = "";
    fc.features.slice(0, 500).forEach(function (f) {
      var li = document.createElement("li"), b = document.createElement("button");
      b.type = "button"; b.dataset.id = f.id;
      b.textContent = (f.properties.adresse || f.id) + (f.properties.nb_logements_vacants ? " — " + f.properties.nb_logements_vacants + " vacant(s)" : "");
      b.addEventListener("click", function () {
        var l = L.geoJSON(f); map().fitBounds(l.getBounds(), { maxZoom: 18 });
      });
      li.appendChild(b); ul.appendChild(li);
    });
    if (n > 500) { var li = document.createElement("li"); li.textContent = "… " + (n - 500) + " autres (exportez pour la liste complète)"; ul.appendChild(li); }
    if (n) map().fitBounds(layer.getBounds(), { maxZoom: 17 });
  }

  // -- wiring ------------------------------------------------------------------------------------
  function tab(name) {
    ["edition", "historique", "requete"].forEach(function (t) {
      $("ed-tab-" + t).setAttribute("aria-selected", String(t === name));
      $("ed-panel-" + t).hidden = t !== name;
    });
    if (name === "historique") { S.history = S.history || []; loadVersions(); }
  }

  function on(id, fn) { $(id).addEventListener("click", function () { fn(); }); }

  document.addEventListener("DOMContentLoaded", function () {
    $("ed-login-form").addEventListener("submit", function (e) { e.preventDefault(); signIn($("ed-key").value.trim()); });
    on("ed-new", newFeature); on("ed-reshape", reshape); on("ed-hole", hole); on("ed-split", startSplit);
    on("ed-merge", startMerge); on("ed-move", move); on("ed-delete", removeFeature);
    on("ed-undo", undo); on("ed-redo", redo); on("ed-check", check); on("ed-cancel", cancel);
    on("ed-keep-mine", keepMine); on("ed-take-theirs", takeTheirs); on("ed-redraw", redraw);
    on("ed-compare", compare); on("ed-restore", restore);
    on("ed-q-draw", function () { stopModes(); S.mode = "perimeter"; map().pm.enableDraw("Polygon", { snappable: true }); $("ed-q-stats").textContent = "Dessinez le périmètre ; cliquez sur le premier sommet pour fermer."; });
    on("ed-q-run", function () { runQuery(null); });
    on("ed-q-gpkg", function () { runQuery("gpkg"); });
    on("ed-q-csv", function () { runQuery("csv"); });
    $("ed-q-file").addEventListener("change", function () { S.perimeter = null; $("ed-q-sector").value = ""; });
    $("ed-q-sector").addEventListener("change", function () { S.perimeter = null; });
    $("ed-form").addEventListener("submit", function (e) { e.preventDefault(); save(); });
    ["edition", "historique", "requete"].forEach(function (t) { on("ed-tab-" + t, function () { tab(t); }); });
    document.addEventListener("keydown", function (e) {
      if (!S.map) return;
      var k = e.key.toLowerCase();
      if (e.key === "Escape") { stopModes(); status("Outil arrêté."); }
      else if ((e.ctrlKey || e.metaKey) && k === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
      else if ((e.ctrlKey || e.metaKey) && (k === "y" || (k === "z" && e.shiftKey))) { e.preventDefault(); redo(); }
      else if ((e.ctrlKey || e.metaKey) && k === "s") { e.preventDefault(); save(); }
    });
    var saved = sessionStorage.getItem("ortGeoEditorKey");
    if (saved) signIn(saved);
    else $("ed-key").focus();
  });
  S.api = { select: select, save: save, check: check, undo: undo, redo: redo, cancel: cancel, tab: tab };
})();
