import { formatStrategy } from '@fl/shared';
import { parseStrategy } from './strategy';

describe('--strategy', () => {
  it('reads a name and its parameters, defaults filled in', () => {
    expect(parseStrategy('fedprox:mu=0.01')).toEqual({ name: 'fedprox', weighting: 'samples', mu: 0.01 });
    expect(parseStrategy('fedavgm:momentum=0.9')).toMatchObject({ name: 'fedavgm', momentum: 0.9, serverLearningRate: 1 });
    expect(parseStrategy('trimmed-mean:beta=0.2')).toEqual({ name: 'trimmed-mean', beta: 0.2 });
    expect(parseStrategy('krum:f=1,m=3')).toEqual({ name: 'krum', weighting: 'samples', f: 1, m: 3 });
    expect(parseStrategy('fedavg:weighting=uniform,clipNorm=5')).toEqual({ name: 'fedavg', weighting: 'uniform', clipNorm: 5 });
    expect(parseStrategy('scaffold')).toEqual({ name: 'scaffold', weighting: 'samples', serverLearningRate: 1 });
  });

  it('says what is wrong', () => {
    expect(() => parseStrategy('fedsgd')).toThrow(/unknown strategy "fedsgd"; use one of fedavg, fedavgm/);
    expect(() => parseStrategy('fedprox:mu')).toThrow(/"mu" is not key=value/);
    expect(() => parseStrategy('fedprox:mu=1,mu=2')).toThrow(/mu is given twice/);
    expect(() => parseStrategy('fedprox:momentum=0.9')).toThrow(/fedprox: momentum/);
    expect(() => parseStrategy('trimmed-mean:beta=0.7')).toThrow(/trimmed-mean: beta/);
    expect(() => parseStrategy('krum:f=-1')).toThrow(/krum: f/);
  });

  it('writes it back in full', () => {
    expect(formatStrategy(parseStrategy('krum:f=1'))).toBe('krum:weighting=samples,f=1,m=1');
    expect(formatStrategy(parseStrategy('median'))).toBe('median');
  });
});
