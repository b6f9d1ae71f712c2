export * from './weights';
export * from './envelope';
export * from './transfers';
