export * from './kinds';
export * from './record';
export * from './verify';
export * from './bundle';
export * from './anchor';
