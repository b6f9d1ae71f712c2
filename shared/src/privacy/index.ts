export * from './rdp';
export * from './noise';
