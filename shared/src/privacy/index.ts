export * from './rdp';
export * from './noise';
export * from './spec';
export * from './central';
export * from './fdlibm';
