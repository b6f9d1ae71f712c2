import { choiceFlag, commandHelp, EXIT, parseCommand, requiredFlag, urlFlag, UsageError, type Command } from './command-line';

const command: Command = {
  name: 'fl-test run',
  usage: '--data FILE [options]',
  summary: 'A command for the tests.',
  flags: {
    data: { value: 'FILE', help: 'the data (required)' },
    rounds: { value: 'R', help: 'how many rounds', default: '10', env: 'FL_ROUNDS' },
    verbose: { help: 'say more' },
  },
};

describe('the shared command line', () => {
  it('has one table of exit statuses', () => {
    expect(EXIT).toEqual({ DONE: 0, FAILED: 1, REFUSED_COORDINATOR: 2, REVOKED: 3, REPLACED: 4, TAKEN_OVER: 5, USAGE: 64 });
  });

  it('shows every flag with its default and variable, and --help', () => {
    const help = commandHelp(command);
    expect(help).toMatch(/^Usage: fl-test run --data FILE \[options\]/);
    expect(help).toMatch(/--rounds R +how many rounds\n +\(default: 10 \[FL_ROUNDS\]\)/);
    expect(help).toMatch(/--help +this text/);
  });

  it('parses flags, and --help even beside a mistake', () => {
    expect(parseCommand(command, ['--data', 'x.csv', '--verbose'])).toEqual({ help: false, values: { data: 'x.csv', verbose: true }, positionals: [] });
    expect(parseCommand(command, ['--help']).help).toBe(true);
    expect(parseCommand(command, ['--bogus', '-h']).help).toBe(true);
  });

  it('says what is wrong with the command line in words', () => {
    expect(() => parseCommand(command, ['--bogus'])).toThrow(new UsageError('unknown flag --bogus (fl-test run --help lists them)'));
    expect(() => parseCommand(command, ['--data'])).toThrow(/--data needs a value/);
    expect(() => parseCommand(command, ['extra'])).toThrow(/unexpected argument extra/);
    expect(() => requiredFlag({}, 'data')).toThrow(new UsageError('--data is required'));
    expect(requiredFlag({}, 'rounds', { FL_ROUNDS: '3' }, 'FL_ROUNDS')).toBe('3');
  });

  it('checks an address and a choice, naming the flag and the value', () => {
    expect(urlFlag('coordinator', 'https://fl.example.org').host).toBe('fl.example.org');
    expect(() => urlFlag('coordinator', 'notaurl')).toThrow('--coordinator "notaurl" is not an address: expected http://HOST:PORT or https://HOST:PORT');
    expect(() => urlFlag('coordinator', 'ftp://x')).toThrow('--coordinator "ftp://x" starts with ftp://: expected http:// or https://');
    expect(choiceFlag('format', 'md', ['md', 'json'])).toBe('md');
    expect(() => choiceFlag('format', 'pdf', ['md', 'json'])).toThrow('--format "pdf" is not one of md, json');
  });
});
