/**
 * The agent's WebSocket transport: Socket.IO's own for Node, with unmasked
 * frames. RFC 6455 has clients XOR every frame with a random key so that a
 * script in a browser cannot make a frame that an intermediary would read as a
 * request of its own; an agent is no browser and runs no one else's code. A key
 * of zeros leaves the bytes as they are: the WebSocket library then neither
 * copies nor XORs a 4 MB update (nor does the coordinator's undo it), and the
 * frames stay valid for any server and proxy. Over TLS no intermediary sees
 * them anyway.
 */
import { NodeWebSocket } from 'engine.io-client';

export class UnmaskedWebSocket extends NodeWebSocket {
  override createSocket(uri: string, protocols: string | string[] | undefined, opts: Record<string, unknown>): unknown {
    return super.createSocket(uri, protocols, { ...opts, generateMask: (mask: Uint8Array) => mask.fill(0) });
  }
}
