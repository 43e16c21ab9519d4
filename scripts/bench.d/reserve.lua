-- POST …/reserve of names never used before: the traffic the sweeper must not hold up.
local counter = 0
local run_tag = string.format("%x", os.time())
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/pool/omani.works/reserve",
    {["Content-Type"] = "application/json"},
    string.format('{"subdomain":"r%s-%d"}', run_tag, counter))
end
