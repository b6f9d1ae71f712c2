export * from './canonical';
export * from './keys';
export * from './key-file';
export * from './parallel';
export * from './digest-worker';
export * from './weights-checker';
