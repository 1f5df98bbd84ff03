// The load generator of benches/http.rs, run as its own process so that the server under test
// shares no runtime with the client measuring it.
//
//   node load.mjs targets.json        (RATE, default 500 requests/s in all; DURATION_S, default 30)
//
// targets.json: {"url": "http://127.0.0.1:PORT", "targets": [{"kind", "method", "path",
// "headers", "body"?}, ...]}. Requests go through the targets in order, one after another
// across all connections (one shared cursor), so every school's session takes its turn.
//
// Prints one JSON object on stdout: autocannon's own result (`autocannon`), and the latency of
// every response, of whatever status, summarised overall (`overall`) and per target kind
// (`kinds`), which autocannon does not split.
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

const file = process.argv[2]
if (!file) {
  console.error('usage: node load.mjs targets.json')
  process.exit(2)
}
const spec = JSON.parse(readFileSync(file, 'utf8'))
const positive = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number`)
    process.exit(2)
  }
  return value
}
const rate = Math.round(positive('RATE', 500))
const duration = positive('DURATION_S', 30)
// One request a second on each connection (a browser each), up to CONNECTIONS: at the target
// rate and latencies far under a second, no request waits for an earlier one to finish.
const connections = Math.min(rate, Math.round(positive('CONNECTIONS', 500)))

const targets = spec.targets
if (!Array.isArray(targets) || targets.length === 0) {
  console.error('no targets')
  process.exit(2)
}
let cursor = 0

// Autocannon paces a connection by a budget of requests per second that a one-second timer,
// started when the connection is made, refills; all connections are made at once, so every
// connection would spend its budget at the same instant each second: a burst of `rate`
// requests, then silence. Each connection's second starts instead at its own offset, evenly
// spread, so the requests arrive at an even rate. (Autocannon's fields, as of the version
// pinned in package-lock.json.)
let made = 0
function spread (client) {
  const slot = made++
  if (!client.rate) return
  // The first request waits for this connection's slot too.
  client.reqsMadeThisSecond = client.rate
  const refill = () => {
    if (client.destroyed) return
    client.reqsMadeThisSecond = 0
    if (client.paused) {
      client.paused = false
      client._doRequest()
    }
  }
  // Autocannon starts its own timer just after calling this, in the client's constructor.
  queueMicrotask(() => {
    clearInterval(client.rateInterval)
    setTimeout(() => {
      if (client.destroyed) return
      refill()
      client.rateInterval = setInterval(refill, 1000)
    }, (slot * 1000) / connections)
  })
}

const instance = autocannon({
  url: spec.url,
  connections,
  overallRate: rate,
  duration,
  // Arrivals are paced by the clock above, so no correction for coordinated omission: every
  // latency recorded is one a request saw.
  ignoreCoordinatedOmission: true,
  timeout: 10,
  setupClient: spread,
  requests: [
    {
      setupRequest: (request, context) => {
        const target = targets[cursor++ % targets.length]
        context.kind = target.kind
        return {
          ...request,
          method: target.method,
          path: target.path,
          headers: target.headers ?? {},
          body: target.body ?? ''
        }
      }
    }
  ]
})

// Responses per kind. One request is in flight per connection, so the connection's context
// still names the kind of the request just answered when its response is reported.
const kinds = {}
const all = []
// Latencies by when their response came, in windows of this many seconds.
const WINDOW_S = 5
const windows = []
const startedAt = performance.now()
function kindOf (name) {
  kinds[name] ??= { latencies: [], statuses: {} }
  return kinds[name]
}
instance.on('response', (client, statusCode, _bytes, responseTime) => {
  const kind = kindOf(client.requestIterator.context.kind ?? 'unknown')
  kind.latencies.push(responseTime)
  kind.statuses[statusCode] = (kind.statuses[statusCode] ?? 0) + 1
  all.push(responseTime)
  const w = Math.floor((performance.now() - startedAt) / 1000 / WINDOW_S)
  windows[w] ??= []
  windows[w].push(responseTime)
})

function summary (latencies, statuses) {
  const sorted = Float64Array.from(latencies).sort()
  const at = (p) =>
    sorted.length === 0 ? null : sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]
  const non2xx = Object.entries(statuses ?? {})
    .filter(([code]) => !code.startsWith('2'))
    .reduce((n, [, count]) => n + count, 0)
  return {
    responses: sorted.length,
    p50_ms: at(50),
    p90_ms: at(90),
    p99_ms: at(99),
    max_ms: sorted.length === 0 ? null : sorted[sorted.length - 1],
    non2xx,
    statuses
  }
}

instance.on('done', (result) => {
  const statuses = {}
  for (const kind of Object.values(kinds)) {
    for (const [code, count] of Object.entries(kind.statuses)) {
      statuses[code] = (statuses[code] ?? 0) + count
    }
  }
  const cpu = process.cpuUsage()
  const out = {
    rate,
    duration_s: duration,
    connections,
    // This process's CPU time, start-up included, seconds.
    cpu_s: (cpu.user + cpu.system) / 1e6,
    targets: targets.length,
    overall: summary(all, statuses),
    timeline: Array.from(windows, (latencies, w) => {
      const { responses, p50_ms, p99_ms } = summary(latencies ?? [])
      return { from_s: w * WINDOW_S, responses, p50_ms, p99_ms }
    }),
    kinds: Object.fromEntries(
      Object.entries(kinds).map(([name, kind]) => [name, summary(kind.latencies, kind.statuses)])
    ),
    autocannon: result
  }
  // Exit once written: nothing else is left to wait for.
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
})
