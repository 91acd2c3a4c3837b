/* ort-geo buildings as vector tiles (Leaflet.VectorGrid): from a PMTiles archive embedded in the
 * staff map file, or from the API's OGC API – Tiles routes (the editor and the staff map served by
 * the API: any extent of the store), fetched with the key of the page's session. */
(function () {
  "use strict";
  // Leaflet.VectorGrid 1.3 calls L.DomEvent.fakeStop, which Leaflet 1.8 removed; this marks the
  // event as handled the way Leaflet 1.9 does internally, so a click on a building does not also
  // reach the map.
  if (!L.DomEvent.fakeStop) L.DomEvent.fakeStop = function (e) { e._stopped = true; };

  var PANE = "og-batiments";
  // The API key a planner signed in with (the editor's and the served staff map's session: one
  // browser tab, one origin).
  var SESSION_KEY = "ortGeoEditorKey";

  function sessionHeaders() {
    var key = null;
    try { key = window.sessionStorage.getItem(SESSION_KEY); } catch (e) { /* storage disabled */ }
    return key ? { "X-API-Key": key } : {};
  }

  function MemorySource(bytes) { this.bytes = bytes; }
  MemorySource.prototype.getKey = function () { return "ort-geo-embedded"; };
  MemorySource.prototype.getBytes = function (offset, length) {
    return Promise.resolve({ data: this.bytes.buffer.slice(offset, offset + length) });
  };

  function archive(base64) {
    var binary = atob(base64), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return fromBytes(bytes);
  }

  /* An archive already in memory (the editor fetches it with its API key). */
  function fromBytes(bytes) { return new pmtiles.PMTiles(new MemorySource(bytes)); }

  /* VectorGrid.Protobuf reads tiles with fetch(); hand it each tile as a blob: URL instead. */
  var EmbeddedGrid = L.VectorGrid.Protobuf.extend({
    onAdd: function (map) {
      if (!map.getPane(PANE)) map.createPane(PANE).style.zIndex = 450;  // above the perimeters
      L.VectorGrid.Protobuf.prototype.onAdd.call(this, map);
    },
    initialize: function (source, options) {
      this._archive = source;
      L.VectorGrid.Protobuf.prototype.initialize.call(this, "", options);
    },
    _getVectorTilePromise: function (coords, tileBounds) {
      var self = this, parent = L.VectorGrid.Protobuf.prototype._getVectorTilePromise;
      return this._archive.getZxy(coords.z, coords.x, coords.y).then(function (tile) {
        if (!tile || !tile.data) return { layers: [] };
        var url = URL.createObjectURL(new Blob([tile.data]));
        self._url = url;  // read synchronously by the parent method below
        return parent.call(self, coords, tileBounds).then(function (decoded) {
          URL.revokeObjectURL(url);
          return decoded;
        });
      });
    }
  });

  /* Tiles served by the API (OGC API – Tiles, {z}/{y}/{x}), fetched with the caller's key. */
  var ServedGrid = L.VectorGrid.Protobuf.extend({
    onAdd: EmbeddedGrid.prototype.onAdd
  });

  /* VectorGrid's canvas tiles hit-test in map pixels, which is wrong once tiles are over-zoomed
   * (beyond maxNativeZoom): project the pointer into the tile's own zoom instead. */
  var TileRenderer = L.Canvas.Tile.extend({
    _tilePoint: function (e) {
      var c = this._tileCoord;
      return this._map.project(this._map.mouseEventToLatLng(e), c.z)
        .subtract(L.point(c.x, c.y).scaleBy(this._size));
    },
    _onClick: function (e) {
      var point = this._tilePoint(e), clicked = null;
      for (var id in this._layers) {
        var feature = this._layers[id];
        if (feature.options.interactive && feature._containsPoint(point) &&
            !this._map._draggableMoved(feature)) clicked = feature;
      }
      if (clicked) {
        L.DomEvent.fakeStop(e);
        this._fireEvent([clicked], e);
      }
    },
    _onMouseMove: function (e) {
      if (!this._map || this._map.dragging.moving() || this._map._animatingZoom) return;
      this._handleMouseHover(e, this._tilePoint(e));
    }
  });

  function colour(options, props) {
    if (options.mode === "vacance") {
      var vacant = props.nb_logements_vacants;
      return options.palette[vacant > 0 ? "vacant" : "occupe"];
    }
    return options.palette[props.etat || ""] || options.palette[""];
  }

  function popup(options, props) {
    var div = document.createElement("div"), table = document.createElement("table");
    div.className = "og-popup";
    var title = document.createElement("h3");
    title.textContent = props.adresse || props.id || "Bâtiment";
    div.appendChild(title);
    options.fields.forEach(function (pair) {
      var value = props[pair[0]];
      if (value === undefined || value === null || value === "") return;
      if (pair[0] === "etat") value = (options.conditions[value] || [value])[0];
      var row = document.createElement("tr"), th = document.createElement("th"),
          td = document.createElement("td");
      th.scope = "row";
      th.textContent = pair[1];
      td.textContent = String(value);
      row.appendChild(th);
      row.appendChild(td);
      table.appendChild(row);
    });
    div.appendChild(table);
    return div;
  }

  function layer(source, options) {
    var styles = {};
    styles.batiments = function (props) {
      var c = colour(options, props);
      return { fill: true, fillColor: c[1], fillOpacity: 0.85, color: "#1b2631", weight: 0.6 };
    };
    var gridOptions = {
      pane: PANE, interactive: options.interactive !== false, vectorTileLayerStyles: styles,
      rendererFactory: function (coords, size, opts) { return new TileRenderer(coords, size, opts); },
      minZoom: options.minZoom, maxNativeZoom: options.maxNativeZoom, maxZoom: 19,
      getFeatureId: function (f) { return f.properties.id; }
    };
    var grid;
    if (typeof source === "string") {  // a URL template of the API's tiles
      gridOptions.fetchOptions = { headers: options.headers || {} };
      grid = new ServedGrid(source, gridOptions);
    } else {
      grid = new EmbeddedGrid(source, gridOptions);
    }
    grid.on("add", function () {
      var map = grid._map;
      if (map.getZoom() >= options.minZoom) window.ortGeoTilesExpected = true;
      if (!map._ogFallback) {
        // Building tiles cover the perimeters: a click that hits no building opens the perimeter
        // under it, as it would without the tiles.
        map._ogFallback = true;
        map.on("click", function (e) {
          if (map.hasLayer(grid) && window.ortGeo) ortGeo.openAt(map, e.latlng);
        });
      }
    });
    grid.on("click", function (e) {
      L.popup(window.ortGeo ? ortGeo.popupOptions(grid._map) : { maxWidth: 340 }).setLatLng(e.latlng)
        .setContent(popup(options, e.layer.properties)).openOn(grid._map);
    });
    grid.on("load", function () {
      if (!window.ortGeoTilesLoaded) window.ortGeoTilesLoaded = performance.now();
    });
    return grid;
  }

  window.ortGeoTiles = { archive: archive, fromBytes: fromBytes, layer: layer,
                       sessionHeaders: sessionHeaders, SESSION_KEY: SESSION_KEY };
})();
