-- wrk script for bench/scenarios/wechat-login.sh: every request carries a fresh, single-use
-- login code. Argument: "new" (every login a new user), "returning" (1,000 users logging in
-- again and again) or "fake" (jscode2session straight at the fake WeChat server).
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "new"
  appid = args[2] or ""
  secret = args[3] or ""
  run = args[4] or "r"   -- unique per wrk run: codes are single-use
  counter = 0
end

function request()
  counter = counter + 1
  local user
  if mode == "returning" then
    user = "u" .. ((counter * 7 + tid) % 1000)
  else
    user = "t" .. tid .. "n" .. counter
  end
  local code = "openid:" .. user .. ":" .. run .. "-" .. tid .. "-" .. counter
  if mode == "fake" then
    return wrk.format("GET", "/sns/jscode2session?appid=" .. appid .. "&secret=" .. secret ..
      "&grant_type=authorization_code&js_code=" .. code)
  end
  return wrk.format("POST", "/api/auth/wechat/login", { ["Content-Type"] = "application/json" },
    '{"code":"' .. code .. '"}')
end
