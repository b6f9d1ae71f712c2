/**
 * The agent's WebSocket transport sends frames under a mask key of zeros: valid
 * WebSocket frames (any server reads them), whose bytes travel as they are.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { UnmaskedWebSocket } from '@fl/participant-agent';

/** The WebSocket frames in raw bytes after the HTTP upgrade: whether each is masked, and its key. */
function clientFrames(bytes: Buffer): { masked: boolean; key: string; length: number }[] {
  const frames: { masked: boolean; key: string; length: number }[] = [];
  let at = bytes.indexOf('\r\n\r\n') + 4;
  while (at + 2 <= bytes.length) {
    const masked = (bytes[at + 1] & 0x80) !== 0;
    let length = bytes[at + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    const key = masked ? bytes.subarray(at + header, at + header + 4).toString('hex') : '';
    frames.push({ masked, key, length });
    at += header + (masked ? 4 : 0) + length;
  }
  return frames;
}

/**
 * A Socket.IO server on loopback and an agent transport's client connected to
 * it; `weights`: the first 'weights' message the server receives, and `raw`
 * every byte it read from the client.
 */
async function serverAndAgent(): Promise<{ client: Socket; raw: Buffer[]; weights: Promise<Buffer>; close: () => Promise<void> }> {
  const server = http.createServer();
  const raw: Buffer[] = [];
  server.on('connection', (socket) => socket.on('data', (chunk: Buffer) => raw.push(chunk)));
  const ioServer = new Server(server, { transports: ['websocket'], maxHttpBufferSize: 8 << 20 });
  const weights = new Promise<Buffer>((resolve) => ioServer.on('connection', (s) => s.on('weights', (data: Buffer) => resolve(data))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = io(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { transports: [UnmaskedWebSocket], forceNew: true });
  const close = async () => {
    client.close();
    await ioServer.close();
  };
  return { client, raw, weights, close };
}

describe('the agent WebSocket transport', () => {
  it('masks its frames with a zero key, and a Socket.IO server reads them intact', async () => {
    const { client, raw, weights: received, close } = await serverAndAgent();
    try {
      const weights = Buffer.from(new Float32Array(5000).map((_, i) => Math.sin(i)).buffer);
      client.emit('weights', weights);
      expect(Buffer.compare(await received, weights)).toBe(0);
      const frames = clientFrames(Buffer.concat(raw));
      // the Engine.IO open, the Socket.IO connect, the event and its attachment at least
      expect(frames.length).toBeGreaterThanOrEqual(3);
      expect(frames.every((f) => f.masked && f.key === '00000000')).toBe(true);
      // the attachment, in a frame of its own as Engine.IO sends binary
      expect(frames.some((f) => f.length === weights.length)).toBe(true);
    } finally {
      await close();
    }
  });
});
