"""Classifiers of the paper: HMM, HMM+LM, SVM (SMO), LSTM, BLSTM."""
