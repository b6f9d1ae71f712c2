export * from './weights';
