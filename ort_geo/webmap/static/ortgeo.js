/* ort-geo web map runtime: popups, list alternative, search, French and accessible controls.
 * Text from the data is always set with textContent, never parsed as HTML. */
(function () {
  "use strict";
  var layers = {};      // layer name -> L.GeoJSON
  var fieldLabels = {}; // layer name -> [[field, French label], ...]

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function popupContent(name, props) {
    var div = el("div", "og-popup");
    div.tabIndex = -1;  // receives focus when opened from the list, so it is read out
    div.appendChild(el("h3", null, props._libelle || ""));
    var table = el("table");
    (fieldLabels[name] || []).forEach(function (pair) {
      var value = props[pair[0]];
      if (value === undefined || value === null || value === "") return;
      var row = el("tr");
      var th = el("th", null, pair[1]);
      th.scope = "row";
      row.appendChild(th);
      row.appendChild(el("td", null, value));
      table.appendChild(row);
    });
    div.appendChild(table);
    if (props._stats) div.appendChild(statsTable(props._stats));
    return div;
  }

  function statsTable(stats) {
    var box = el("div", "og-stats");
    box.appendChild(el("h4", null, "Statistiques du secteur"));
    var table = el("table");
    stats.forEach(function (pair) {
      var row = el("tr");
      var th = el("th", null, pair[0]);
      th.scope = "row";
      row.appendChild(th);
      row.appendChild(el("td", null, pair[1]));
      table.appendChild(row);
    });
    box.appendChild(table);
    if (stats.some(function (pair) { return pair[1] === "secret"; })) {
      box.appendChild(el("p", "og-note", "« secret » : secret statistique (effectif issu de " +
        "données protégées, trop petit ou déductible des autres chiffres)."));
    }
    return box;
  }

  /* Popup options that fit the window: never wider or taller than the map leaves room for
     (long content scrolls inside the popup), panned into view when opened. */
  function popupOptions(map) {
    var size = map ? map.getSize() : { x: window.innerWidth || 1024, y: window.innerHeight || 768 };
    var pad = size.y < 500 ? 10 : 30;
    return { maxWidth: Math.max(160, Math.min(360, size.x - 100)), minWidth: Math.min(160, size.x - 100),
             maxHeight: Math.max(120, Math.min(420, size.y - 110)), autoPan: true, keepInView: true,
             autoPanPadding: [pad, pad] };
  }

  /* Attach popups and tooltips to a folium GeoJson layer and remember it by name. */
  function register(name, layer, fields) {
    layers[name] = layer;
    fieldLabels[name] = fields;
    // Bound on each feature (not the group) so the list and the search can open any of them.
    layer.eachLayer(function (sub) {
      sub._ogLayer = name;
      sub.bindPopup(function () { return popupContent(name, sub.feature.properties); },
                    popupOptions());
      sub.bindTooltip(function () { return el("span", null, sub.feature.properties._libelle); },
                      { sticky: true });
    });
  }

  function find(name, id) {
    var hit = null;
    if (!layers[name]) return null;
    layers[name].eachLayer(function (sub) {
      if (sub.feature && String(sub.feature.id) === String(id)) hit = sub;
    });
    return hit;
  }

  /* Show one feature: make its layer visible, frame it, open its popup. */
  function focusFeature(map, sub) {
    var parent = layers[sub._ogLayer];
    if (parent && !map.hasLayer(parent)) map.addLayer(parent);
    if (sub.getBounds) {
      map.fitBounds(sub.getBounds(), { maxZoom: 17, padding: [30, 30], animate: false });
    } else {
      map.setView(sub.getLatLng(), Math.max(map.getZoom(), 16), { animate: false });
    }
    sub.openPopup(sub.getBounds ? sub.getBounds().getCenter() : undefined);
  }

  /* Open the popup of the topmost filled feature under a point (see tiles.js). */
  function openAt(map, latlng) {
    var point = map.latLngToLayerPoint(latlng), names = Object.keys(layers).reverse();
    for (var i = 0; i < names.length; i++) {
      if (!map.hasLayer(layers[names[i]])) continue;
      var hit = null;
      layers[names[i]].eachLayer(function (sub) {
        if (!hit && sub.options.fill && sub._containsPoint && sub.getBounds().contains(latlng) &&
            sub._containsPoint(point)) hit = sub;
      });
      if (hit) { hit.openPopup(latlng); return hit; }
    }
    return null;
  }

  function fold(text) {
    return String(text).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function addSearch(map, names) {
    var group = L.featureGroup(names.filter(function (n) { return layers[n]; })
                                    .map(function (n) { return layers[n]; }));
    var control = new L.Control.Search({
      layer: group, propertyName: "_libelle", initial: false, marker: false,
      collapsed: false, autoType: false, tipAutoSubmit: true, firstTipSubmit: true,
      textPlaceholder: "Rechercher une action, un lieu…", textErr: "Aucun résultat",
      textCancel: "Effacer la recherche", position: "topleft",
      filterData: function (text, records) {
        var wanted = fold(text), found = {};
        Object.keys(records).forEach(function (key) {
          if (fold(key).indexOf(wanted) !== -1) found[key] = records[key];
        });
        return found;
      },
      moveToLocation: function (latlng) { if (latlng.layer) focusFeature(map, latlng.layer); }
    });
    map.addControl(control);
    if (control._input) {
      control._input.setAttribute("aria-label", "Rechercher une action ou un lieu sur la carte");
      control._input.id = "og-recherche";
    }
    if (control._button) control._button.setAttribute("aria-label", "Lancer la recherche");
    return control;
  }

  /* French labels and accessible names for Leaflet's own controls. */
  function frenchControls(map, layerControl, label) {
    var container = map.getContainer();
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", label);
    if (map.zoomControl) {
      [[map.zoomControl._zoomInButton, "Zoom avant"], [map.zoomControl._zoomOutButton, "Zoom arrière"]]
        .forEach(function (pair) {
          pair[0].title = pair[1];
          pair[0].setAttribute("aria-label", pair[1]);
        });
    }
    if (layerControl) {
      var link = layerControl._layersLink;
      link.title = "Couches et fonds de plan";
      link.setAttribute("aria-label", "Couches et fonds de plan");
      var section = layerControl._section;
      section.setAttribute("aria-label", "Couches et fonds de plan");
      var base = section.querySelector(".leaflet-control-layers-base");
      var overlays = section.querySelector(".leaflet-control-layers-overlays");
      if (base) base.insertBefore(el("p", "og-switcher-title", "Fond de plan"), base.firstChild);
      if (overlays) overlays.insertBefore(el("p", "og-switcher-title", "Couches"), overlays.firstChild);
    }
    if (map.attributionControl) {
      map.attributionControl.setPrefix(
        '<a href="https://leafletjs.com" title="Bibliothèque cartographique JavaScript">Leaflet</a>');
    }
  }

  /* Buttons of the list beside the map locate their feature. */
  function wireList(map) {
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-og-layer]") : null;
      if (!button) return;
      var sub = find(button.getAttribute("data-og-layer"), button.getAttribute("data-og-id"));
      if (sub) {
        focusFeature(map, sub);
        var popup = document.querySelector(".leaflet-popup-content .og-popup");
        (popup || map.getContainer()).focus({ preventScroll: true });
      }
    });
  }

  function init(map, options) {
    frenchControls(map, options.layerControl, options.label);
    L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
    if (options.search && options.search.length && L.Control.Search) addSearch(map, options.search);
    wireList(map);
    // Popups fitted to the map as it is when they open (the window may have been resized).
    map.on("popupopen", function (e) { L.setOptions(e.popup, popupOptions(map)); e.popup.update(); });
    window.ortGeo.map = map;
    window.ortGeoReady = true;
    document.documentElement.setAttribute("data-og-ready", "1");
  }

  window.ortGeo = { register: register, find: find, focusFeature: focusFeature, init: init, openAt: openAt,
                    popupContent: popupContent, popupOptions: popupOptions, layers: layers };
})();
