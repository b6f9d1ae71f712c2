import { loadConfig } from './config';

describe('configuration', () => {
  it('takes flags over environment over defaults', () => {
    const config = loadConfig(['--port', '9000'], { FL_PORT: '7000', FL_HOST: '0.0.0.0' });
    expect(config.port).toBe(9000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.maxFrameBytes).toBe(64 * 1024 * 1024);
    expect(config.defaultMinParticipants).toBe(2);
  });

  it('names every wrong setting in one message', () => {
    expect(() => loadConfig(['--port', 'eighty'], { FL_ADMIN_TOKEN: 'short' })).toThrow(
      /invalid configuration:\n {2}port: .*\n {2}adminToken: the admin token needs at least 16 characters/,
    );
  });

  it('takes an optional read-only viewer token, as long as the admin token', () => {
    expect(loadConfig([], {}).viewerToken).toBeUndefined();
    expect(loadConfig([], { FL_VIEWER_TOKEN: 'viewer-token-0123456789' }).viewerToken).toBe('viewer-token-0123456789');
    expect(() => loadConfig(['--viewer-token', 'short'], {})).toThrow(/viewerToken: the viewer token needs at least 16 characters/);
  });

  it('refuses an unknown flag and shows the usage', () => {
    expect(() => loadConfig(['--prot', '1'], {})).toThrow(/Unknown option '--prot'[\s\S]*Usage: fl-coordinator/);
  });

  it('resolves the data directory to an absolute path', () => {
    expect(loadConfig(['--data-dir', 'x'], {}).dataDir).toMatch(/^\/.*\/x$/);
  });
});
