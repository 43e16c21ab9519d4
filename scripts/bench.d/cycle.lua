-- reserve → commit → release over HTTP. Any connection may take any step: a reserved name
-- waits in a queue for the next free connection to commit it, then to release it. Each
-- answer says which step it was (201 reserved, 200 with "active" committed, 200 freed).
local to_commit, to_release = {}, {}
local counter = 0
local run_tag = string.format("%x", os.time())
local json = {["Content-Type"] = "application/json"}

request = function()
  local held = table.remove(to_commit)
  if held then
    return wrk.format("POST", "/api/v1/pool/openova.io/commit", json, string.format(
      '{"subdomain":"%s","reservationToken":"%s","loadBalancerIP":"94.130.0.10"}', held[1], held[2]))
  end
  local active = table.remove(to_release)
  if active then
    return wrk.format("DELETE", "/api/v1/pool/openova.io/release?sub=" .. active)
  end
  counter = counter + 1
  return wrk.format("POST", "/api/v1/pool/openova.io/reserve", json,
    string.format('{"subdomain":"w%s-%d"}', run_tag, counter))
end

response = function(status, headers, body)
  if status == 201 then
    table.insert(to_commit, {body:match('"subdomain":"([^"]+)"'), body:match('"reservationToken":"([^"]+)"')})
  elseif status == 200 and body:find('"state":"active"', 1, true) then
    table.insert(to_release, body:match('"subdomain":"([^"]+)"'))
  elseif status ~= 200 then
    -- A failed step would skew the count: say so (scripts/bench refuses such a run).
    io.stderr:write("cycle step answered " .. status .. ": " .. body .. "\n")
  end
end
