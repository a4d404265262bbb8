-- wrk script for the POST endpoints of bench/run.sh: a form body with an
-- Authorization header, the same bytes on every request (the request is
-- built once in init, so wrk keeps its fast static-request path).
--
--   wrk -s bench/post.lua URL -- BODY [AUTHORIZATION]
--
-- Without script arguments the body and header come from the environment:
-- BENCH_BODY and BENCH_AUTH (e.g. "Basic Y2xpZW50OnNlY3JldA==").
function init(args)
  local body = args[1] or os.getenv("BENCH_BODY") or ""
  local auth = args[2] or os.getenv("BENCH_AUTH")
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Accept"] = "application/json"
  if auth and auth ~= "" then
    wrk.headers["Authorization"] = auth
  end
end
