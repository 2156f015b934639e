-- wrk script: POST each pre-signed notification once (tests/bench/notifications.py writes the pool).
-- Called as: wrk ... -s notify.lua <url> -- <pool.lua> <wrk threads>
-- Thread i sends pool entries i, i + threads, i + 2 * threads, ...; a thread that runs out stops and says so.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
  thread:set("exhausted", false)
end

function init(args)
  pool = dofile(args[1])
  stride = tonumber(args[2])
  next_entry = index
end

function request()
  local entry = pool[next_entry]
  if entry == nil then
    exhausted = true
    wrk.thread:stop()
    entry = pool[index]  -- a copy of one already sent: never measured, the thread is stopping
  else
    next_entry = next_entry + stride
  end
  return wrk.format("POST", "/pay/notify", entry.headers, entry.body)
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") then
      io.write("POOL EXHAUSTED\n")
    end
  end
end
