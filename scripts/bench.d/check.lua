-- GET …/check?sub=pNNNNNN on names half present (0–99999 are seeded), half absent.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("/api/v1/pool/omani.works/check?sub=p%06d", math.random(0, 199999)))
end
