export * from './spec';
export * from './state';
export * from './aggregate';
