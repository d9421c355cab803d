// Sends a shopping visit (a JSON list of Segment calls, in a file named on the command
// line) with @segment/analytics-node, configured as the README says, then flushes.
// Usage: node visit.js <write key> <calls.json> <host> [path]
const { readFileSync } = require('node:fs')
const { Analytics } = require('@segment/analytics-node')

const [writeKey, file, host, path] = process.argv.slice(2)
// The README's settings: `host` the shop's origin, `path` '/seg/v1/batch'. Given only
// `host`, the client posts to new URL('/v1/batch', host), which drops a path in host.
const analytics = new Analytics(path ? { writeKey, host, path } : { writeKey, host })
const errors = []
analytics.on('error', (error) => errors.push(String(error.reason || error.code || error)))

for (const call of JSON.parse(readFileSync(file, 'utf8'))) {
  const { type, ...message } = call
  analytics[type](message)
}
analytics.closeAndFlush({ timeout: 10000 }).then(() => {
  if (errors.length) {
    console.error(errors.join('\n'))
    process.exit(1)
  }
})
