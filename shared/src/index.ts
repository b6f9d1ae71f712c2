export * from './protocol';
export * from './crypto';
export * from './codec';
export * from './model';
export * from './strategy';
export * from './audit';
export * from './admin';
export * from './cli';
