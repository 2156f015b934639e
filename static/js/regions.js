// Checkout: fill the 城市 and 区县 selects in place when 省份 or 城市 changes, from the same bundled dataset
// the server uses (static/data/china-regions.json). Without this script the form's 更新城市和区县 button
// asks the server to fill them; with it that button is removed, so Enter submits the order form as usual.
(function () {
  "use strict";
  var fieldset = document.querySelector("fieldset.region[data-regions-url]");
  if (!fieldset || !window.fetch) return;
  var province = document.getElementById("province");
  var city = document.getElementById("city");
  var district = document.getElementById("district");
  if (!province || !city || !district) return;

  function fill(select, names, placeholder) {
    var current = select.value;
    while (select.options.length) select.remove(0);
    select.add(new Option(placeholder, ""));
    names.forEach(function (name) { select.add(new Option(name, name)); });
    select.value = names.indexOf(current) >= 0 ? current : "";
  }

  function start(tree) {
    var refresh = fieldset.querySelector(".region-refresh");
    if (refresh) refresh.parentNode.removeChild(refresh);

    function cities() { return tree[province.value] || {}; }

    function fillDistricts() {
      var names = cities()[city.value] || [];
      fill(district, names, city.value ? "请选择" : "先选城市");
    }

    function fillCities() {
      fill(city, Object.keys(cities()), province.value ? "请选择" : "先选省份");
      fillDistricts();
    }

    province.addEventListener("change", fillCities);
    city.addEventListener("change", fillDistricts);
    fillCities();
  }

  fetch(fieldset.getAttribute("data-regions-url"), { headers: { Accept: "application/json" } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) { if (data && data.provinces) start(data.provinces); })
    .catch(function () { /* the 更新城市和区县 button still works */ });
})();
