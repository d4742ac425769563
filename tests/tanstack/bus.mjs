// TanStack's devtools server event bus on 127.0.0.1, with a TypeScript
// EventClient in its process (plugin id tanstack-ai-devtools).
//
//   node bus.mjs [port]       (NODE_ENV=development: the bus listens only then)
//
// stdout, one JSON object per line:
//   {"ready": port}                      the bus listens
//   {"heard": envelope}                  the EventClient heard an image event
// stdin, one JSON object per line:
//   {"emit": "image:usage", "payload": {...}}   the EventClient emits it
//   {"raw": anything}                           the bus sends it as is to its clients
import readline from 'node:readline'
import { ServerEventBus } from '@tanstack/devtools-event-bus/server'
import { EventClient } from '@tanstack/devtools-event-client'

const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`)
const bus = new ServerEventBus({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1' })
await bus.start()
const client = new EventClient({ pluginId: 'tanstack-ai-devtools' })
for (const name of ['image:request:started', 'image:request:completed', 'image:usage']) {
  client.on(name, (envelope) => say({ heard: envelope }))
}
say({ ready: bus.port })

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const command = JSON.parse(line)
  if (command.emit) client.emit(command.emit, command.payload)
  if ('raw' in command) bus.emit(command.raw)
})
lines.on('close', () => {
  bus.stop()
  process.exit(0)
})
