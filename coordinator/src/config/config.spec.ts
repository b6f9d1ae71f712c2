import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { CoordinatorIdentity, generateCoordinatorKeyFile, KeyFileError } from '../identity/identity';

const TLS = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');

describe('configuration', () => {
  it('takes flags over environment over defaults', () => {
    const config = loadConfig(['--port', '9000'], { FL_PORT: '7000', FL_HOST: '0.0.0.0' });
    expect(config.port).toBe(9000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.maxFrameBytes).toBe(64 * 1024 * 1024);
    expect(config.defaultMinParticipants).toBe(2);
  });

  it('takes a blank setting as unset, as an empty one, not as the number 0', () => {
    const config = loadConfig([], { FL_RETAIN_UPDATE_ROUNDS: ' ', FL_PORT: '\t' });
    expect(config.retainUpdateRounds).toBeUndefined();
    expect(config.port).toBe(loadConfig([], {}).port);
    // A blank flag is unset too: the variable it would override is read.
    expect(loadConfig(['--port', ''], { FL_PORT: '8123' }).port).toBe(8123);
  });

  it('refuses a timeout beyond a day, which a timer cannot hold (it would fire at once)', () => {
    expect(() => loadConfig(['--handshake-timeout-seconds', '2200000'], {})).toThrow(/--handshake-timeout-seconds/);
    expect(() => loadConfig([], { FL_DEFAULT_ROUND_DEADLINE_SECONDS: '2200000' })).toThrow(/FL_DEFAULT_ROUND_DEADLINE_SECONDS|--default-round-deadline-seconds/);
  });

  it('names every wrong setting in one message', () => {
    expect(() => loadConfig(['--port', 'eighty'], { FL_ADMIN_TOKEN: 'short' })).toThrow(
      /invalid configuration \(fl-coordinator --help lists every flag and its default\):\n {2}--port "eighty": expected a number\n {2}--admin-token: the admin token needs at least 16 characters/,
    );
  });

  it('takes an optional read-only viewer token, as long as the admin token', () => {
    expect(loadConfig([], {}).viewerToken).toBeUndefined();
    expect(loadConfig([], { FL_VIEWER_TOKEN: 'viewer-token-0123456789' }).viewerToken).toBe('viewer-token-0123456789');
    expect(() => loadConfig(['--viewer-token', 'short'], {})).toThrow(/--viewer-token: the viewer token needs at least 16 characters/);
  });

  it('takes a Redis URL for replicas, and never repeats a wrong one, which may hold a password', () => {
    expect(loadConfig([], {}).redisUrl).toBeUndefined();
    expect(loadConfig([], {}).redisPrefix).toBe('fl:');
    expect(loadConfig(['--redis-prefix', 'consortium-a:'], { FL_REDIS_URL: 'redis://10.0.0.5:6379/2' })).toMatchObject({
      redisUrl: 'redis://10.0.0.5:6379/2',
      redisPrefix: 'consortium-a:',
    });
    expect(loadConfig(['--redis-url', 'rediss://:secret@cache.example:6380'], {}).redisUrl).toBe('rediss://:secret@cache.example:6380');
    let message = '';
    try {
      loadConfig(['--redis-url', 'http://:secret@cache.example'], {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/--redis-url: /);
    expect(message).not.toContain('secret');
  });

  it('refuses an unknown flag and shows the usage', () => {
    expect(() => loadConfig(['--prot', '1'], {})).toThrow(/unknown flag --prot \(fl-coordinator --help lists them\)/);
  });

  it('takes a TLS certificate and key together, readable and matching', () => {
    const cert = `${TLS}/server.pem`;
    const key = `${TLS}/server-key.pem`;
    expect(loadConfig([], {}).tlsCert).toBeUndefined();
    expect(loadConfig(['--tls-cert', cert], { FL_TLS_KEY: key })).toMatchObject({ tlsCert: cert, tlsKey: key });
    expect(() => loadConfig(['--tls-cert', cert], {})).toThrow(/--tls-key: TLS needs both --tls-cert and --tls-key/);
    expect(() => loadConfig([], { FL_TLS_KEY: key })).toThrow(/--tls-cert: TLS needs both --tls-cert and --tls-key/);
    // named with the other wrong settings, not after them
    expect(() => loadConfig(['--port', 'eighty', '--tls-cert', cert], {})).toThrow(/ {2}--port "eighty": .*\n {2}--tls-key: TLS needs both/);
    expect(() => loadConfig(['--tls-cert', `${TLS}/missing.pem`, '--tls-key', key], {})).toThrow(
      `cannot read the TLS certificate file ${TLS}/missing.pem: no such file`,
    );
    expect(() => loadConfig(['--tls-cert', cert, '--tls-key', TLS], {})).toThrow(`cannot read the TLS key file ${TLS}: it is a directory`);
    expect(() => loadConfig(['--tls-cert', key, '--tls-key', key], {})).toThrow(`${key} is not a PEM certificate`);
    expect(() => loadConfig(['--tls-cert', cert, '--tls-key', cert], {})).toThrow(`${cert} is not an unencrypted PEM private key`);
    expect(() => loadConfig(['--tls-cert', cert, '--tls-key', `${TLS}/ca-key.pem`], {})).toThrow(
      `${TLS}/ca-key.pem is not the private key of the certificate in ${cert}`,
    );
  });

  it('takes a PostgreSQL database URL, and never repeats a wrong one back (it may hold a password)', () => {
    expect(loadConfig([], {}).databaseUrl).toBeUndefined();
    const url = 'postgres://fl:s3cret@db.example:5432/fl';
    expect(loadConfig([], { FL_DATABASE_URL: url }).databaseUrl).toBe(url);
    expect(loadConfig(['--database-url', url], { FL_DATABASE_URL: 'postgresql://x@y/z' }).databaseUrl).toBe(url);
    let message = '';
    try {
      loadConfig(['--database-url', 'mysql://fl:s3cret@db.example/fl'], {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/--database-url: the database URL must be postgres:\/\/user:password@host:port\/database/);
    expect(message).not.toContain('s3cret');
  });

  it('resolves the data directory to an absolute path', () => {
    expect(loadConfig(['--data-dir', 'x'], {}).dataDir).toMatch(/^\/.*\/x$/);
  });

  it('takes a key file made beforehand, shared by replicas, and refuses one missing or malformed with its code; never creates it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-key-'));
    const file = path.join(dir, 'coordinator-key.json');
    expect(loadConfig([], {}).keyFile).toBeUndefined();
    expect(() => loadConfig(['--key-file', file], {})).toThrow(`--key-file "${file}": KEY_FILE_MISSING: ${file} does not exist (make one with: fl-coordinator key generate ${file})`);
    expect(fs.existsSync(file)).toBe(false);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"type":"fl-ed25519"}');
    expect(() => loadConfig([], { FL_KEY_FILE: path.join(dir, 'bad.json') })).toThrow(/--key-file ".*bad\.json": KEY_FILE_INVALID: .* is not a coordinator key file/);
    const made = generateCoordinatorKeyFile(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(() => generateCoordinatorKeyFile(file)).toThrow(expect.objectContaining({ code: 'KEY_FILE_EXISTS' }) as KeyFileError);
    const config = loadConfig([], { FL_KEY_FILE: file, FL_DATA_DIR: path.join(dir, 'data') });
    expect(config.keyFile).toBe(file);
    // Two replicas with their own data directories sign with the one key; no key is made in either directory.
    expect(CoordinatorIdentity.load(config).publicKey).toBe(made.publicKey);
    expect(CoordinatorIdentity.load({ ...config, dataDir: path.join(dir, 'other') }).publicKey).toBe(made.publicKey);
    expect(fs.existsSync(path.join(dir, 'data', 'coordinator-key.json'))).toBe(false);
  });
});
