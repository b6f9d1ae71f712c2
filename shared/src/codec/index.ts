export * from './weights';
export * from './envelope';
export * from './transfers';
export * from './packets';
