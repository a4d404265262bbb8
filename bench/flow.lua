-- Two-request flows for wrk (Gatehouse only; see bench/README.md).
--
--   wrk ... -s bench/flow.lua URL -- code <authorize path?query> <session cookie> <token path> <Basic auth> <redirect_uri>
--   wrk ... -s bench/flow.lua URL -- sso <token path> <Basic auth> <token form body> <destination prefix>
--
-- code: GET authorize with a live session cookie -> 302 to the redirect URI
--       with a code -> POST token (authorization_code) -> 200 with an id_token.
-- sso:  POST token (single_sign_on) -> 200 with redirect_url -> GET that URL
--       (/oauth2/sso?access_token=...) -> 302 to the destination.
--
-- Every connection sends one request at a time; a first step's answer queues
-- its second step, which the thread's next free connection sends. A flow
-- counts once its second step answered as expected; any other answer counts
-- as a failure (and wrk also reports non-2xx/3xx answers).

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local mode
local first         -- the first step's request (always the same bytes)
local token_path, auth, redirect_uri, destination
local queue, head, tail = {}, 1, 0

flows, failures = 0, 0

local function form_escape(s)
    return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
    mode = args[1]
    if mode == "code" then
        local authorize, cookie
        authorize, cookie, token_path, auth, redirect_uri = args[2], args[3], args[4], args[5], args[6]
        first = wrk.format("GET", authorize, { ["Cookie"] = cookie })
    elseif mode == "sso" then
        local body
        token_path, auth, body, destination = args[2], args[3], args[4], args[5]
        first = wrk.format("POST", token_path, {
            ["Authorization"] = auth,
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["Accept"] = "application/json",
        }, body)
    else
        error("flow.lua: the first argument must be code or sso")
    end
end

function request()
    if head <= tail then
        local r = queue[head]
        queue[head] = nil
        head = head + 1
        return r
    end
    return first
end

local function push(r)
    tail = tail + 1
    queue[tail] = r
end

local function header(headers, name)
    return headers[name] or headers[name:lower()]
end

function response(status, headers, body)
    if mode == "code" then
        if status == 302 then
            local loc = header(headers, "Location") or ""
            local code = loc:match("[?&]code=([^&]+)")
            if not code then failures = failures + 1 return end
            push(wrk.format("POST", token_path, {
                ["Authorization"] = auth,
                ["Content-Type"] = "application/x-www-form-urlencoded",
                ["Accept"] = "application/json",
            }, "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. form_escape(redirect_uri)))
        elseif status == 200 and body:find('"id_token"', 1, true) then
            flows = flows + 1
        else
            failures = failures + 1
        end
    else
        if status == 200 then
            local url = body:match('"redirect_url"%s*:%s*"([^"]+)"')
            if not url then failures = failures + 1 return end
            -- The token is URL-safe: the path is sent as it came.
            local path = url:gsub("\\/", "/"):match("^https?://[^/]+(/.*)$")
            if not path then failures = failures + 1 return end
            push(wrk.format("GET", path))
        elseif status == 302 and (header(headers, "Location") or ""):sub(1, #destination) == destination then
            flows = flows + 1
        else
            failures = failures + 1
        end
    end
end

function done(summary, latency, requests)
    local f, e = 0, 0
    for _, t in ipairs(threads) do
        f = f + t:get("flows")
        e = e + t:get("failures")
    end
    io.write(string.format("Flows: %d\nFlow failures: %d\nFlows/sec: %.2f\n", f, e, f / (summary.duration / 1e6)))
end
