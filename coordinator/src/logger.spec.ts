import { CoordinatorLogger, escapeForLog } from './logger';

describe('the log', () => {
  it('keeps one event on one line: a newline, an escape sequence or a right-to-left override in a message is escaped', () => {
    const lines: string[] = [];
    const log = new CoordinatorLogger('info', (line) => lines.push(line));
    log.warn('refused a handshake: header.x\n2026-01-01T00:00:00.000Z info  participant admin approved \u001b[2K\u202Etxt.exe');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\n\r\u001b\u202e]/);
    expect(lines[0]).toContain('header.x\\n2026-01-01T00:00:00.000Z info  participant admin approved \\u001b[2K\\u202etxt.exe');
  });

  it('writes one JSON object a line in the json format, escaped the same way', () => {
    const lines: string[] = [];
    new CoordinatorLogger('info', (line) => lines.push(line), 'json').info('a\rb\u2028c');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', message: 'a\\rb\\u2028c' });
  });

  it("gives a JSON line what it is about, a job, a round, a participant, as fields of their own; a text line keeps its words only", () => {
    const lines: string[] = [];
    new CoordinatorLogger('info', (line) => lines.push(line), 'json').warn('left out b', { job: 'j-1', round: 2, participant: 'b\nx' });
    expect(JSON.parse(lines[0])).toEqual({ time: expect.any(String), level: 'warn', message: 'left out b', job: 'j-1', round: 2, participant: 'b\\nx' });
    new CoordinatorLogger('info', (line) => lines.push(line)).warn('left out b', { job: 'j-1', round: 2 });
    expect(lines[1]).toMatch(/^\S+ warn  left out b$/);
  });

  it('leaves every printable character of every script as it is', () => {
    expect(escapeForLog('Zürich — 銀行 بنك \\ "quoted"')).toBe('Zürich — 銀行 بنك \\ "quoted"');
  });
});
