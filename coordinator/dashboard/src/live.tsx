/**
 * The live feed: one Socket.IO connection per signed-in tab to the
 * coordinator's admin namespace. Pages subscribe to its events, and reload
 * their data each time it (re)connects, so nothing sent while the connection
 * was down stays missing. The coordinator drops the feed of a token it stops
 * accepting (and refuses its handshake), which socket.io does not retry: the
 * tab then asks the API whether its session still holds, and a refusal there
 * signs it out, so an ended session shows at once, not at the next click.
 */
import { createContext, useContext, useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { io, type Socket } from 'socket.io-client';
import { ApiError } from './api';
import { useSession } from './session';
import { ADMIN_NAMESPACE, type AdminHandshakeAuth, type AdminLiveEvents } from './types';

type LiveSocket = Socket<AdminLiveEvents, Record<string, never>>;
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'refused';

interface LiveValue {
  socket: LiveSocket | null;
  state: LiveState;
  /** counts connections: a new value means events may have been missed, so reload */
  connection: number;
}

const LiveContext = createContext<LiveValue>({ socket: null, state: 'connecting', connection: 0 });

export function LiveProvider({ children }: { children: ReactNode }) {
  const { session, api } = useSession();
  const [value, setValue] = useState<LiveValue>({ socket: null, state: 'connecting', connection: 0 });

  useEffect(() => {
    const auth: AdminHandshakeAuth = { token: session.token };
    const socket: LiveSocket = io(ADMIN_NAMESPACE, { auth, transports: ['websocket'] });
    let closed = false;
    /** A refused token signs the tab out (the session's Api does); else the feed was dropped for another reason. */
    const checkSession = (reconnect: boolean) =>
      api.session().then(
        () => reconnect && !closed && socket.connect(),
        (err: unknown) => reconnect && !closed && !(err instanceof ApiError && err.code === 'UNAUTHORIZED') && socket.connect(),
      );
    setValue({ socket, state: 'connecting', connection: 0 });
    socket.on('connect', () => setValue((v) => ({ ...v, state: 'live', connection: v.connection + 1 })));
    socket.on('disconnect', (reason) => {
      setValue((v) => ({ ...v, state: 'reconnecting' }));
      if (reason === 'io server disconnect') void checkSession(true);
    });
    socket.on('connect_error', () => {
      // A refusal by the server's handshake check is final: socket.io does not retry it.
      const refused = !socket.active;
      setValue((v) => ({ ...v, state: refused ? 'refused' : 'reconnecting' }));
      if (refused) void checkSession(false);
    });
    return () => {
      closed = true;
      socket.disconnect();
    };
  }, [session.token, api]);

  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLiveStatus(): { state: LiveState; connection: number } {
  const { state, connection } = useContext(LiveContext);
  return { state, connection };
}

/** Calls the handler for every such event while the component is mounted; the latest handler is used. */
export function useLiveEvent<E extends keyof AdminLiveEvents>(event: E, handler: AdminLiveEvents[E]): void {
  const { socket } = useContext(LiveContext);
  const latest = useRef(handler);
  useLayoutEffect(() => {
    latest.current = handler;
  });
  useEffect(() => {
    if (!socket) return;
    const listener = (...args: unknown[]) => (latest.current as (...a: unknown[]) => void)(...args);
    // socket.io's typed on/off cannot relate a generic event name to its listener.
    const untyped = socket as unknown as { on(e: string, l: typeof listener): void; off(e: string, l: typeof listener): void };
    untyped.on(event, listener);
    return () => untyped.off(event, listener);
  }, [socket, event]);
}
