export * from './canonical';
export * from './keys';
export * from './key-file';
