export * from './weights';
export * from './envelope';
